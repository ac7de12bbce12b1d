// The Python module mtd._core: pybind11 glue only. Every call that can
// block or run guest code releases the GIL.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "loadgen/load_generator.hpp"
#include "sandbox/limits.hpp"
#include "sandbox/machine.hpp"
#include "sandbox/outcome.hpp"
#include "sandbox/program.hpp"
#include "sandbox/run_to_exit.hpp"
#include "server/server.hpp"

namespace py = pybind11;
using namespace mtd;

namespace {

// Bytes are immutable and the caller holds the reference for the whole
// call, so this view stays valid while the GIL is released.
std::span<const uint8_t> bytes_span(const py::bytes& b) {
    char* data = nullptr;
    Py_ssize_t len = 0;
    PyBytes_AsStringAndSize(b.ptr(), &data, &len);
    return {reinterpret_cast<const uint8_t*>(data), static_cast<size_t>(len)};
}

// Guest output need not be valid UTF-8.
py::str lenient_str(std::string_view s) {
    PyObject* o = PyUnicode_DecodeUTF8(s.data(), static_cast<Py_ssize_t>(s.size()), "replace");
    if (!o) throw py::error_already_set();
    return py::reinterpret_steal<py::str>(o);
}

py::dict run_elf(const py::bytes& elf, const std::vector<std::string>& argv, const py::bytes& stdin_data,
                 uint64_t max_instructions, uint64_t max_memory, bool eager_decode, bool emit_translation,
                 uint8_t min_runs, const std::string& translation, bool frozen) {
    auto image = bytes_span(elf);
    auto input = bytes_span(stdin_data);
    sandbox::ExitResult r;
    {
        py::gil_scoped_release release;
        r = sandbox::run_to_exit(image, argv,
                                 std::string_view(reinterpret_cast<const char*>(input.data()), input.size()),
                                 max_instructions, max_memory, eager_decode,
                                 {.emit = emit_translation, .min_runs = min_runs, .frozen = frozen,
                                  .shared_object = translation});
    }
    py::dict d;
    d["outcome"] = sandbox::outcome_name(r.outcome);
    d["reason"] = r.reason;
    d["exit_code"] = r.exit_code;
    d["stdout"] = py::bytes(r.stdout_data);
    d["stderr"] = py::bytes(r.stderr_data);
    d["instructions"] = r.instructions;
    d["decoded_units"] = r.decoded_units;
    d["text_units"] = r.text_units;
    d["translation_source"] = r.translation_source;
    d["translated_instructions"] = r.translated_instructions;
    py::list x, f;
    for (uint64_t v : r.x) x.append(v);
    for (uint64_t v : r.f) f.append(v);
    d["x"] = x;
    d["f"] = f;
    return d;
}

// A loaded Program and what its guest printed, for tests that drive the
// sandbox without the HTTP server.
struct LoadedProgram {
    std::shared_ptr<std::string> log = std::make_shared<std::string>();
    std::shared_ptr<const sandbox::Program> program;
};

LoadedProgram load_program(const py::bytes& elf, const sandbox::Limits& limits) {
    auto image = bytes_span(elf);
    LoadedProgram p;
    py::gil_scoped_release release;
    auto log = p.log;
    auto mu = std::make_shared<std::mutex>();
    p.program = sandbox::Program::load(image, limits, [log, mu](std::string_view s) {
        std::lock_guard<std::mutex> lock(*mu);
        log->append(s);
    });
    return p;
}

// One whole request on `machine`, sliced like the server slices it when
// slice_instructions is non-zero; the dict says how it ended and what each
// slice retired.
py::dict run_request(sandbox::Machine& machine, const LoadedProgram& p, const std::string& method,
                     const std::string& path, const std::string& query, const std::string& host,
                     const std::string& headers, const std::string& body, uint64_t slice_instructions,
                     uint64_t slice_pages) {
    const sandbox::RequestView view{method, path, query, host, headers, body};
    sandbox::Response out;
    sandbox::RunResult r;
    std::vector<uint64_t> slices;
    {
        py::gil_scoped_release release;
        sandbox::Slice slice = sandbox::Slice::whole();
        if (slice_instructions) slice.instructions = slice_instructions;
        if (slice_pages) slice.pages = slice_pages;
        uint64_t before = 0;
        for (bool done = machine.start(*p.program, view, out, slice, r);; done = machine.resume(view, out, r)) {
            slices.push_back(machine.request_instructions() - before);
            before = machine.request_instructions();
            if (done) break;
        }
    }
    py::dict d;
    d["outcome"] = sandbox::outcome_name(r.outcome);
    d["reason"] = std::string(r.reason);
    d["instructions"] = r.instructions;
    d["slices"] = slices;
    d["memory"] = machine.last_request_memory();
    d["translated"] = machine.request_translated_instructions();
    d["copied"] = machine.last_request_copied();
    if (r.outcome == sandbox::Outcome::Responded) {
        d["status"] = out.status;
        d["content_type"] = py::bytes(out.content_type);
        d["body"] = py::bytes(out.body);
    }
    return d;
}

std::unique_ptr<server::Server> make_server(const std::string& host, int port, int threads,
                                            const std::optional<py::bytes>& vanilla_page,
                                            std::optional<int> admin_port, double request_timeout,
                                            size_t max_parked, size_t max_parked_per_tenant) {
    server::ServerConfig config;
    config.host = host;
    config.port = port;
    config.threads = threads;
    config.vanilla = vanilla_page.has_value();
    if (vanilla_page) config.vanilla_page = std::string(*vanilla_page);
    if (admin_port && (*admin_port < 0 || *admin_port > 65535))
        throw py::value_error("admin_port must be 0 (ephemeral) to 65535, or None to disable");
    config.admin_port = admin_port.value_or(-1);
    if (!(request_timeout > 0 && request_timeout <= 86400))
        throw py::value_error("request_timeout must be more than 0 and at most 86400 seconds");
    config.request_timeout_ms = static_cast<uint64_t>(request_timeout * 1000 + 0.5);
    config.max_parked = max_parked;
    config.max_parked_per_tenant = max_parked_per_tenant;
    return std::make_unique<server::Server>(std::move(config));
}

py::dict load_tenant(server::Server& s, const std::string& name, const py::bytes& elf,
                     const std::vector<std::string>& hosts, const sandbox::Limits& limits, bool is_default) {
    auto image = bytes_span(elf);
    uint64_t init_instructions = 0;
    {
        py::gil_scoped_release release;
        init_instructions = s.load_tenant(name, image, hosts, limits, is_default);
    }
    py::dict d;
    d["init_instructions"] = init_instructions;
    return d;
}

// stats() is polled several times a second with up to thousands of
// tenants, so its dicts are built with interned keys through the C API
// rather than pybind11's per-item string conversions.
struct Keys {
    PyObject* intern(const char* s) { return PyUnicode_InternFromString(s); }
    // Created once and never freed: they must outlive every dict.
    PyObject *name = intern("name"), *requests = intern("requests"), *status_2xx = intern("status_2xx"),
             *status_3xx = intern("status_3xx"), *status_4xx = intern("status_4xx"),
             *status_5xx = intern("status_5xx"), *errors = intern("errors"), *sandbox_ns = intern("sandbox_ns"),
             *in_flight = intern("in_flight"), *parked = intern("parked"), *log_dropped = intern("log_dropped"), *latency = intern("latency"),
             *sandbox_latency = intern("sandbox_latency"), *count = intern("count"), *p50_us = intern("p50_us"),
             *p90_us = intern("p90_us"), *p99_us = intern("p99_us"), *p999_us = intern("p999_us"),
             *max_us = intern("max_us"), *mean_us = intern("mean_us"), *p50 = intern("p50"), *p90 = intern("p90"),
             *p99 = intern("p99"), *p999 = intern("p999"), *max = intern("max"), *mean = intern("mean"),
             *cost = intern("cost"), *instructions = intern("instructions"), *pages_copied = intern("pages_copied"),
             *pages_copied_per_request = intern("pages_copied_per_request"),
             *peak_memory_bytes = intern("peak_memory_bytes"), *bytes_in = intern("bytes_in"),
             *bytes_out = intern("bytes_out"), *translated_instructions = intern("translated_instructions"),
             *instructions_total = intern("instructions_total"), *tier = intern("tier");
    PyObject* outcome[stats::kOutcomeCount];
    Keys() {
        for (size_t i = 0; i < stats::kOutcomeCount; ++i)
            outcome[i] = intern(sandbox::outcome_name(static_cast<sandbox::Outcome>(i)));
    }
};

const Keys& keys() {
    static const Keys* k = new Keys();  // leaked on purpose, see Keys
    return *k;
}

// Steals `value`.
void set(PyObject* dict, PyObject* key, PyObject* value) {
    if (!value) throw py::error_already_set();
    int rc = PyDict_SetItem(dict, key, value);
    Py_DECREF(value);
    if (rc != 0) throw py::error_already_set();
}

void set_u64(PyObject* d, PyObject* k, uint64_t v) { set(d, k, PyLong_FromUnsignedLongLong(v)); }
void set_us(PyObject* d, PyObject* k, double ns) { set(d, k, PyFloat_FromDouble(ns / 1e3)); }

// {count, p50_us, p90_us, p99_us, p999_us, max_us, mean_us}: microseconds
// as floats (the unit in the key), count an int.
py::dict latency_dict(const stats::LatencySummary& l) {
    const Keys& k = keys();
    py::dict d;
    set_u64(d.ptr(), k.count, l.count);
    set_us(d.ptr(), k.p50_us, double(l.p50));
    set_us(d.ptr(), k.p90_us, double(l.p90));
    set_us(d.ptr(), k.p99_us, double(l.p99));
    set_us(d.ptr(), k.p999_us, double(l.p999));
    set_us(d.ptr(), k.max_us, double(l.max));
    set_us(d.ptr(), k.mean_us, l.mean);
    return d;
}

// The same keys as /stats' "cost" (stats/json_format.hpp).
py::dict cost_dict(const stats::CostSnapshot& c) {
    const Keys& k = keys();
    py::dict i;
    set_u64(i.ptr(), k.count, c.instructions.count);
    set_u64(i.ptr(), k.p50, c.instructions.p50);
    set_u64(i.ptr(), k.p90, c.instructions.p90);
    set_u64(i.ptr(), k.p99, c.instructions.p99);
    set_u64(i.ptr(), k.p999, c.instructions.p999);
    set_u64(i.ptr(), k.max, c.instructions.max);
    set(i.ptr(), k.mean, PyFloat_FromDouble(c.instructions.mean));
    py::dict d;
    set(d.ptr(), k.instructions, i.release().ptr());
    set_u64(d.ptr(), k.pages_copied, c.copied_bytes / stats::kPageBytes);
    const double per_request = c.instructions.count
                                   ? double(c.copied_bytes) / stats::kPageBytes / double(c.instructions.count)
                                   : 0.0;
    set(d.ptr(), k.pages_copied_per_request, PyFloat_FromDouble(per_request));
    set_u64(d.ptr(), k.peak_memory_bytes, c.peak_memory);
    set_u64(d.ptr(), k.bytes_in, c.bytes_in);
    set_u64(d.ptr(), k.bytes_out, c.bytes_out);
    set_u64(d.ptr(), k.instructions_total, c.instructions.sum);
    set_u64(d.ptr(), k.translated_instructions, c.translated_instructions);
    return d;
}

py::list stats_list(const server::Server& s, const std::optional<std::vector<std::string>>& names) {
    stats::NamedSnapshots snaps;
    {
        py::gil_scoped_release release;
        snaps = s.stats(names ? &*names : nullptr);
    }
    const Keys& k = keys();
    py::list out(snaps.size());
    size_t i = 0;
    for (const auto& [name, snap] : snaps) {
        py::dict errors;
        for (size_t o = 0; o < snap.errors.size(); ++o) {
            auto outcome = static_cast<sandbox::Outcome>(o);
            if (outcome == sandbox::Outcome::Responded || outcome == sandbox::Outcome::Ready) continue;
            set_u64(errors.ptr(), k.outcome[o], snap.errors[o]);
        }
        py::dict d;
        PyObject* p = d.ptr();
        set(p, k.name, lenient_str(name).release().ptr());
        if (snap.tier == stats::Tier::None) {
            if (PyDict_SetItem(p, k.tier, Py_None) != 0) throw py::error_already_set();
        } else {
            set(p, k.tier, PyUnicode_FromString(stats::tier_name(snap.tier)));
        }
        set_u64(p, k.requests, snap.requests);
        set_u64(p, k.status_2xx, snap.status[0]);
        set_u64(p, k.status_3xx, snap.status[1]);
        set_u64(p, k.status_4xx, snap.status[2]);
        set_u64(p, k.status_5xx, snap.status[3]);
        set(p, k.errors, errors.release().ptr());
        set_u64(p, k.sandbox_ns, snap.sandbox_ns);
        set_u64(p, k.in_flight, snap.in_flight);
        set_u64(p, k.parked, snap.parked);
        set_u64(p, k.log_dropped, snap.log_dropped);
        set(p, k.latency, latency_dict(snap.latency).release().ptr());
        set(p, k.sandbox_latency, latency_dict(snap.sandbox_latency).release().ptr());
        set(p, k.cost, cost_dict(snap.cost).release().ptr());
        out[i++] = std::move(d);
    }
    return out;
}

py::list drain_logs(server::Server& s, size_t max) {
    auto entries = s.logs().drain(max);
    py::list out;
    for (const auto& e : entries) out.append(py::make_tuple(lenient_str(e.tenant), lenient_str(e.text)));
    return out;
}

std::unique_ptr<loadgen::LoadGenerator> make_load_generator(const std::string& address, int port,
                                                           const std::string& path, const std::string& host_header,
                                                           int threads, int connections, double duration,
                                                           uint64_t requests, double rate, double timeout) {
    loadgen::LoadConfig c;
    c.address = address;
    c.port = port;
    c.path = path;
    c.host_header = host_header;
    c.threads = threads;
    c.connections = connections;
    c.duration_s = duration;
    c.requests = requests;
    c.rate = rate;
    c.timeout_s = timeout;
    try {
        return std::make_unique<loadgen::LoadGenerator>(std::move(c));
    } catch (const std::invalid_argument& e) {
        throw py::value_error(e.what());
    }
}

py::dict progress_dict(const loadgen::LoadGenerator& g) {
    loadgen::LoadProgress p = g.progress();
    py::dict d;
    d["completed"] = p.completed;
    d["errors"] = p.errors;
    d["elapsed"] = p.elapsed_s;
    d["done"] = p.done;
    return d;
}

py::dict report_dict(loadgen::LoadGenerator& g) {
    loadgen::LoadReport r;
    {
        py::gil_scoped_release release;
        r = g.wait();
    }
    py::dict status;
    for (int cls = 1; cls <= 5; ++cls) status[py::str(std::to_string(cls) + "xx")] = r.status_classes[cls];
    status["other"] = r.status_classes[0];
    py::dict errors;
    for (size_t k = 0; k < loadgen::kLoadErrorKinds; ++k)
        errors[loadgen::load_error_name(loadgen::LoadErrorKind(k))] = r.errors[k];
    py::dict d;
    d["requests"] = r.requests;
    d["seconds"] = r.seconds;
    d["rps"] = r.requests_per_second();
    d["body_bytes"] = r.body_bytes;
    d["status"] = status;
    d["errors"] = errors;
    d["latency"] = latency_dict(r.latency.summary());
    return d;
}

}  // namespace

PYBIND11_MODULE(_core, m) {
    m.doc() = "mtd native engine: RISC-V sandbox and the H2O-based multi-tenant HTTP server";

    auto load_error = py::register_exception<sandbox::LoadError>(m, "LoadError", PyExc_RuntimeError);
    // A load the routing refuses is a failed load too, with its own type.
    py::register_exception<tenants::RoutingConflict>(m, "RoutingConflict", load_error.ptr());

    py::class_<sandbox::Limits>(m, "Limits")
        .def(py::init<>())
        .def_readwrite("request_instructions", &sandbox::Limits::request_instructions)
        .def_readwrite("init_instructions", &sandbox::Limits::init_instructions)
        .def_readwrite("request_memory", &sandbox::Limits::request_memory)
        .def_readwrite("init_memory", &sandbox::Limits::init_memory)
        .def_readwrite("response_bytes", &sandbox::Limits::response_bytes)
        .def("__repr__", [](const sandbox::Limits& l) {
            return "Limits(request_instructions=" + std::to_string(l.request_instructions) +
                   ", init_instructions=" + std::to_string(l.init_instructions) +
                   ", request_memory=" + std::to_string(l.request_memory) +
                   ", init_memory=" + std::to_string(l.init_memory) +
                   ", response_bytes=" + std::to_string(l.response_bytes) + ")";
        });

    m.def("run_elf", &run_elf, py::arg("elf"), py::arg("argv") = std::vector<std::string>{"app"},
          py::arg("stdin") = py::bytes(), py::arg("max_instructions") = uint64_t{10'000'000'000},
          py::arg("max_memory") = uint64_t{256} << 20, py::arg("eager_decode") = false,
          py::arg("emit_translation") = false, py::arg("min_runs") = 1, py::arg("translation") = "",
          py::arg("frozen") = false,
          "Runs a static RISC-V ELF to exit like a plain process; returns outcome, reason, exit_code, "
          "stdout, stderr, instructions, and decoded_units of text_units (decoder cache units; "
          "eager_decode=True decodes all of them up front). emit_translation=True also returns "
          "translation_source, C++ for the blocks the run entered at least min_runs times; translation= "
          "runs in that source (frozen=True: host clocks and entropy stand still, for comparing runs) "
          "compiled (a shared object), counting translated_instructions. x and f: the registers at the end.");

    py::class_<LoadedProgram>(m, "Program",
                              "A tenant ELF loaded and initialised (Program::load), for driving the sandbox "
                              "directly; see Machine.")
        .def(py::init(&load_program), py::arg("elf"), py::arg("limits") = sandbox::Limits{})
        .def_property_readonly("log", [](const LoadedProgram& p) { return py::bytes(*p.log); })
        .def_property_readonly("init_instructions",
                               [](const LoadedProgram& p) { return p.program->init_instructions_used(); })
        .def("translation_source",
             [](const LoadedProgram& p) {
                 const sandbox::TranslationSource t = p.program->translation_source();
                 py::dict d;
                 d["source"] = t.source;
                 d["entries"] = t.entries;
                 d["instructions"] = t.instructions;
                 return d;
             },
             "C++ for the second tier: the blocks the warm-up request ran (source, entries, instructions).")
        .def(
            "profile",
            [](const LoadedProgram& p, const std::string& method, const std::string& path, const std::string& body) {
                py::gil_scoped_release release;
                p.program->profile({method, path, "", "localhost", "host: localhost\n", body});
            },
            py::arg("method") = "GET", py::arg("path") = "/", py::arg("body") = "",
            "Runs a request noting the code it runs, for translation_source().")
        .def("attach_translation",
             [](const LoadedProgram& p, const std::string& path) { p.program->attach_translation(path); },
             py::arg("shared_object"), "Loads a compiled translation_source(); later requests run in it.")
        .def_property_readonly("translated", [](const LoadedProgram& p) { return p.program->translated(); });

    py::class_<sandbox::Machine>(m, "Machine", "A worker's reusable sandbox: each request forks a Program into it.")
        .def(py::init<>())
        .def("request", &run_request, py::keep_alive<1, 2>(), py::arg("program"), py::arg("method") = "GET", py::arg("path") = "/",
             py::arg("query") = "", py::arg("host") = "localhost", py::arg("headers") = "",
             py::arg("body") = "", py::arg("slice_instructions") = 0, py::arg("slice_pages") = 0,
             "Runs one request to the end (slice by slice when slice_instructions or slice_pages is set); "
             "returns outcome, reason, instructions, slices (instructions retired by each slice), memory, "
             "copied, and for a response status, content_type and body.")
        .def("recycle", &sandbox::Machine::recycle, py::call_guard<py::gil_scoped_release>());

    py::class_<server::Server>(m, "Server")
        .def(py::init(&make_server), py::arg("host") = "127.0.0.1", py::arg("port") = 8080,
             py::arg("threads") = 0, py::arg("vanilla_page") = py::none(), py::arg("admin_port") = py::none(),
             py::arg("request_timeout") = 10.0, py::arg("max_parked") = 16, py::arg("max_parked_per_tenant") = 8,
             "vanilla_page=None disables /_mtd/vanilla. admin_port: None disables the admin listener "
             "(/metrics, /stats on 127.0.0.1), 0 picks an ephemeral port. request_timeout: seconds a "
             "connection has to send a complete request head (and the keep-alive idle limit). "
             "max_parked: requests longer than one time slice each worker continues between others "
             "(0: no time slicing, every request runs to completion); max_parked_per_tenant: of those, "
             "how many one tenant may hold. Past either, a long request gets 503.")
        .def("start", &server::Server::start, py::call_guard<py::gil_scoped_release>())
        .def("stop", &server::Server::stop, py::call_guard<py::gil_scoped_release>())
        .def_property_readonly("running", &server::Server::running)
        .def_property_readonly("port", &server::Server::port)
        .def_property_readonly("threads", &server::Server::threads)
        .def_property_readonly("admin_port", &server::Server::admin_port,
                               "The admin listener's bound port while running; 0 when disabled or stopped.")
        .def("load_tenant", &load_tenant, py::arg("name"), py::arg("elf"), py::arg("hosts"), py::arg("limits"),
             py::arg("default") = false,
             "Loads (or hot-swaps) a tenant; raises LoadError and keeps the previous version serving.")
        .def(
            "remove_tenant", [](server::Server& s, const std::string& name) { return s.registry().remove(name); },
            py::arg("name"))
        .def(
            "program",
            [](server::Server& s, const std::string& name) -> std::optional<LoadedProgram> {
                auto program = s.registry().program(name);
                if (!program) return std::nullopt;
                LoadedProgram p;
                p.program = std::move(program);
                return p;
            },
            py::arg("name"), "The Program tenant `name` serves now (for its translation), or None.")
        .def("stats", &stats_list, py::arg("names") = py::none(),
             "Per-tenant counters, latency and cost; the first entry, named '(no tenant)', counts "
             "requests no tenant matched. names: only these tenants ('' or '(no tenant)' for the "
             "unrouted entry). Latency dicts are {count, p50_us, p90_us, p99_us, p999_us, max_us, "
             "mean_us} since the tenant was first loaded; cost is {instructions {count, p50, p90, p99, "
             "p999, max, mean}, pages_copied, pages_copied_per_request, peak_memory_bytes, bytes_in, "
             "bytes_out}.")
        .def("set_ready", &server::Server::set_ready, py::arg("ready"), py::arg("detail"),
             "What the admin listener's /readyz answers: 200 'ready: <detail>' or 503 'not ready: <detail>'.")
        .def(
            "set_tier",
            [](server::Server& s, const std::string& name, const std::string& tier) {
                auto t = stats::tier_from_name(tier);
                if (!t) throw py::value_error("unknown tier: " + tier);
                s.set_tier(name, *t);
            },
            py::arg("name"), py::arg("tier"), "The tier /stats and /metrics report for tenant `name`.")
        .def("readiness", &server::Server::readiness, "(ready, detail) as /readyz reports them.")
        .def("drain_logs", &drain_logs, py::arg("max") = 1000, "Up to `max` (tenant, text) pairs, oldest first.")
        .def_property_readonly("dropped_logs", [](server::Server& s) { return s.logs().dropped(); });

    py::class_<loadgen::LoadGenerator>(m, "LoadGenerator")
        .def(py::init(&make_load_generator), py::arg("address") = "127.0.0.1", py::arg("port"),
             py::arg("path") = "/", py::arg("host_header") = "", py::arg("threads") = 1,
             py::arg("connections") = 8, py::arg("duration") = 10.0, py::arg("requests") = 0,
             py::arg("rate") = 0.0, py::arg("timeout") = 5.0,
             "HTTP/1.1 keep-alive load against one IPv4 address. duration in s (0: until `requests` are "
             "done), rate in requests/s in total (0: as fast as possible), timeout in s. Raises "
             "ValueError for a config that cannot run.")
        .def("start", &loadgen::LoadGenerator::start)
        .def("progress", &progress_dict, "dict(completed, errors, elapsed, done); cheap, any thread.")
        .def("stop", &loadgen::LoadGenerator::stop, "Ends early; wait() then reports what was done.")
        .def("wait", &report_dict,
             "Blocks (without the GIL) until done; returns the report: requests, seconds, rps, body_bytes, "
             "status {1xx..5xx, other}, errors {connect, write, read, timeout, parse}, latency {count, "
             "p50_us, p90_us, p99_us, p999_us, max_us, mean_us}.");
}
