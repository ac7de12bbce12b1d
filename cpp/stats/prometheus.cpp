#include "stats/prometheus.hpp"

#include <charconv>
#include <string_view>

#include "sandbox/outcome.hpp"

namespace mtd::stats {
namespace {

// Label values may hold any UTF-8; the format escapes exactly these three.
void append_label_value(std::string& out, std::string_view v) {
    for (char c : v) {
        switch (c) {
            case '\\': out += "\\\\"; break;
            case '"': out += "\\\""; break;
            case '\n': out += "\\n"; break;
            default: out += c;
        }
    }
}

void header(std::string& out, const char* name, const char* type, const char* help) {
    out += "# HELP ";
    out += name;
    out += ' ';
    out += help;
    out += "\n# TYPE ";
    out += name;
    out += ' ';
    out += type;
    out += '\n';
}

// name{tenant="...",extra} value
void sample_text(std::string& out, const char* name, std::string_view tenant, std::string_view extra,
                 std::string_view value) {
    out += name;
    out += "{tenant=\"";
    append_label_value(out, tenant);
    out += '"';
    if (!extra.empty()) {
        out += ',';
        out += extra;
    }
    out += "} ";
    out += value;
    out += '\n';
}

void sample(std::string& out, const char* name, std::string_view tenant, std::string_view extra, uint64_t value) {
    sample_text(out, name, tenant, extra, std::to_string(value));
}

void sample(std::string& out, const char* name, std::string_view tenant, std::string_view extra, double value) {
    char buf[32];
    auto end = std::to_chars(buf, buf + sizeof buf, value).ptr;  // shortest round-trip form
    sample_text(out, name, tenant, extra, std::string_view(buf, size_t(end - buf)));
}

double seconds(uint64_t ns) { return double(ns) / 1e9; }

void summary(std::string& out, const NamedSnapshots& tenants, const char* name, const char* max_name,
             const char* help, LatencySummary Snapshot::*field) {
    header(out, name, "summary", help);
    const std::string sum = std::string(name) + "_sum", count = std::string(name) + "_count";
    for (const auto& [tenant, s] : tenants) {
        const LatencySummary& l = s.*field;
        sample(out, name, tenant, "quantile=\"0.5\"", seconds(l.p50));
        sample(out, name, tenant, "quantile=\"0.9\"", seconds(l.p90));
        sample(out, name, tenant, "quantile=\"0.99\"", seconds(l.p99));
        sample(out, name, tenant, "quantile=\"0.999\"", seconds(l.p999));
        sample(out, sum.c_str(), tenant, {}, seconds(l.sum));
        sample(out, count.c_str(), tenant, {}, l.count);
    }
    header(out, max_name, "gauge", "Largest duration seen since the tenant was first loaded.");
    for (const auto& [tenant, s] : tenants) sample(out, max_name, tenant, {}, seconds((s.*field).max));
}

}  // namespace

std::string format_prometheus(const NamedSnapshots& tenants, const ServerTotals& totals) {
    std::string out;
    out.reserve(1024 + tenants.size() * 2048);

    header(out, "mtd_requests_total", "counter", "Requests received, by tenant (\"(no tenant)\" = no tenant matched).");
    for (const auto& [tenant, s] : tenants) sample(out, "mtd_requests_total", tenant, {}, s.requests);

    header(out, "mtd_responses_total", "counter", "Responses sent, by HTTP status class.");
    static constexpr const char* kClasses[4] = {"class=\"2xx\"", "class=\"3xx\"", "class=\"4xx\"", "class=\"5xx\""};
    for (const auto& [tenant, s] : tenants)
        for (size_t k = 0; k < s.status.size(); ++k) sample(out, "mtd_responses_total", tenant, kClasses[k], s.status[k]);

    header(out, "mtd_sandbox_errors_total", "counter", "Requests the sandbox failed, by outcome.");
    for (const auto& [tenant, s] : tenants) {
        for (size_t k = 0; k < s.errors.size(); ++k) {
            auto o = static_cast<sandbox::Outcome>(k);
            if (o == sandbox::Outcome::Responded || o == sandbox::Outcome::Ready) continue;
            std::string kind = std::string("kind=\"") + sandbox::outcome_name(o) + "\"";
            sample(out, "mtd_sandbox_errors_total", tenant, kind, s.errors[k]);
        }
    }

    header(out, "mtd_in_flight", "gauge", "Requests being handled right now.");
    for (const auto& [tenant, s] : tenants) sample(out, "mtd_in_flight", tenant, {}, s.in_flight);

    header(out, "mtd_parked_total", "counter",
           "Requests that outlasted their first time slice and were continued between other requests.");
    for (const auto& [tenant, s] : tenants) sample(out, "mtd_parked_total", tenant, {}, s.parked);

    header(out, "mtd_sandbox_seconds_total", "counter", "Time spent running the tenant's sandbox.");
    for (const auto& [tenant, s] : tenants) sample(out, "mtd_sandbox_seconds_total", tenant, {}, seconds(s.sandbox_ns));

    summary(out, tenants, "mtd_request_duration_seconds", "mtd_request_duration_max_seconds",
            "Time from the handler getting a request to the response handed to H2O, since the tenant was "
            "first loaded.",
            &Snapshot::latency);
    summary(out, tenants, "mtd_sandbox_duration_seconds", "mtd_sandbox_duration_max_seconds",
            "Time in the sandbox per request (fork, guest run, copy-out), since the tenant was first loaded.",
            &Snapshot::sandbox_latency);

    header(out, "mtd_guest_instructions", "summary",
           "Guest instructions per request that ran in the sandbox (failures included), since the tenant was "
           "first loaded.");
    for (const auto& [tenant, s] : tenants) {
        const LatencySummary& l = s.cost.instructions;
        sample(out, "mtd_guest_instructions", tenant, "quantile=\"0.5\"", l.p50);
        sample(out, "mtd_guest_instructions", tenant, "quantile=\"0.9\"", l.p90);
        sample(out, "mtd_guest_instructions", tenant, "quantile=\"0.99\"", l.p99);
        sample(out, "mtd_guest_instructions", tenant, "quantile=\"0.999\"", l.p999);
        sample(out, "mtd_guest_instructions_sum", tenant, {}, l.sum);
        sample(out, "mtd_guest_instructions_count", tenant, {}, l.count);
    }
    header(out, "mtd_guest_instructions_max", "gauge", "Most guest instructions one request took.");
    for (const auto& [tenant, s] : tenants) sample(out, "mtd_guest_instructions_max", tenant, {}, s.cost.instructions.max);

    header(out, "mtd_translated_instructions_total", "counter",
           "Guest instructions that ran as translated code (of mtd_guest_instructions_sum).");
    for (const auto& [tenant, s] : tenants)
        sample(out, "mtd_translated_instructions_total", tenant, {}, s.cost.translated_instructions);

    header(out, "mtd_tenant_tier", "gauge",
           "1 for the tier the tenant's serving version is in (optimising, interpreted, translating, "
           "translated, failed), 0 for the others.");
    for (const auto& [tenant, s] : tenants) {
        if (s.tier == Tier::None) continue;
        for (Tier t : kTiers)
            sample(out, "mtd_tenant_tier", tenant, std::string("tier=\"") + tier_name(t) + "\"",
                   uint64_t(s.tier == t));
    }

    header(out, "mtd_pages_copied_total", "counter", "Guest pages (4 KiB) copied on write by requests.");
    for (const auto& [tenant, s] : tenants) sample(out, "mtd_pages_copied_total", tenant, {}, s.cost.copied_bytes / kPageBytes);

    header(out, "mtd_request_memory_peak_bytes", "gauge",
           "Most memory one request was charged (pages copied or newly mapped: the request_memory limit).");
    for (const auto& [tenant, s] : tenants) sample(out, "mtd_request_memory_peak_bytes", tenant, {}, s.cost.peak_memory);

    header(out, "mtd_request_body_bytes_total", "counter", "Request body bytes received.");
    for (const auto& [tenant, s] : tenants) sample(out, "mtd_request_body_bytes_total", tenant, {}, s.cost.bytes_in);

    header(out, "mtd_response_body_bytes_total", "counter", "Response body bytes sent (mtd's error bodies included).");
    for (const auto& [tenant, s] : tenants) sample(out, "mtd_response_body_bytes_total", tenant, {}, s.cost.bytes_out);

    header(out, "mtd_log_dropped_bytes_total", "counter", "Guest output dropped by the per-tenant log rate limit.");
    for (const auto& [tenant, s] : tenants) sample(out, "mtd_log_dropped_bytes_total", tenant, {}, s.log_dropped);

    header(out, "mtd_log_queue_dropped_total", "counter", "Log entries evicted because the log queue was full.");
    out += "mtd_log_queue_dropped_total " + std::to_string(totals.log_queue_dropped) + "\n";
    return out;
}

}  // namespace mtd::stats
