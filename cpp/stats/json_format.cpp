#include "stats/json_format.hpp"

#include <charconv>
#include <cstdio>
#include <string_view>

#include "sandbox/outcome.hpp"

namespace mtd::stats {
namespace {

void append_string(std::string& out, std::string_view s) {
    out += '"';
    for (unsigned char c : s) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += char(c);
        } else if (c < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            out += buf;
        } else {
            out += char(c);
        }
    }
    out += '"';
}

void key(std::string& out, const char* k) {
    out += '"';
    out += k;
    out += "\":";
}

void field(std::string& out, const char* k, uint64_t v) {
    key(out, k);
    out += std::to_string(v);
    out += ',';
}

// Shortest round-trip form: the same float Python's stats() returns, and
// several times faster than printf.
void field_us(std::string& out, const char* k, double ns) {
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof buf, ns / 1e3);
    key(out, k);
    out.append(buf, r.ptr);
    if (std::string_view(buf, r.ptr).find_first_of(".e") == std::string_view::npos) out += ".0";
    out += ',';
}

// Durations: the unit is in each key (ns in, µs out).
void latency(std::string& out, const char* k, const LatencySummary& l) {
    key(out, k);
    out += '{';
    field(out, "count", l.count);
    field_us(out, "p50_us", double(l.p50));
    field_us(out, "p90_us", double(l.p90));
    field_us(out, "p99_us", double(l.p99));
    field_us(out, "p999_us", double(l.p999));
    field_us(out, "max_us", double(l.max));
    field_us(out, "mean_us", l.mean);
    out.back() = '}';
    out += ',';
}

void field_double(std::string& out, const char* k, double v) {
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    key(out, k);
    out.append(buf, r.ptr);
    if (std::string_view(buf, r.ptr).find_first_of(".e") == std::string_view::npos) out += ".0";
    out += ',';
}

// Counts of guest instructions per request: whole numbers, mean a float.
void instructions(std::string& out, const char* k, const LatencySummary& l) {
    key(out, k);
    out += '{';
    field(out, "count", l.count);
    field(out, "p50", l.p50);
    field(out, "p90", l.p90);
    field(out, "p99", l.p99);
    field(out, "p999", l.p999);
    field(out, "max", l.max);
    field_double(out, "mean", l.mean);
    out.back() = '}';
    out += ',';
}

void cost(std::string& out, const CostSnapshot& c) {
    key(out, "cost");
    out += '{';
    instructions(out, "instructions", c.instructions);
    field(out, "pages_copied", c.copied_bytes / kPageBytes);
    field_double(out, "pages_copied_per_request",
                 c.instructions.count ? double(c.copied_bytes) / kPageBytes / double(c.instructions.count) : 0.0);
    field(out, "peak_memory_bytes", c.peak_memory);
    field(out, "bytes_in", c.bytes_in);
    field(out, "bytes_out", c.bytes_out);
    field(out, "translated_instructions", c.translated_instructions);
    out.back() = '}';
    out += ',';
}

}  // namespace

std::string format_json(const NamedSnapshots& tenants) {
    std::string out;
    out.reserve(64 + tenants.size() * 640);
    out += '[';
    for (const auto& [name, s] : tenants) {
        out += '{';
        key(out, "name");
        append_string(out, name);
        out += ',';
        key(out, "tier");
        if (s.tier == Tier::None) {
            out += "null,";
        } else {
            append_string(out, tier_name(s.tier));
            out += ',';
        }
        field(out, "requests", s.requests);
        field(out, "status_2xx", s.status[0]);
        field(out, "status_3xx", s.status[1]);
        field(out, "status_4xx", s.status[2]);
        field(out, "status_5xx", s.status[3]);
        key(out, "errors");
        out += '{';
        for (size_t k = 0; k < s.errors.size(); ++k) {
            auto o = static_cast<sandbox::Outcome>(k);
            if (o == sandbox::Outcome::Responded || o == sandbox::Outcome::Ready) continue;
            field(out, sandbox::outcome_name(o), s.errors[k]);
        }
        out.back() = '}';
        out += ',';
        field(out, "sandbox_ns", s.sandbox_ns);
        field(out, "in_flight", s.in_flight);
        field(out, "parked", s.parked);
        field(out, "log_dropped", s.log_dropped);
        latency(out, "latency", s.latency);
        latency(out, "sandbox_latency", s.sandbox_latency);
        cost(out, s.cost);
        out.back() = '}';
        out += ',';
    }
    if (out.back() == ',') out.pop_back();
    out += "]\n";
    return out;
}

}  // namespace mtd::stats
