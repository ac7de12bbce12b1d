// The Python module mtd._core: pybind11 glue only. Every call that can
// block or run guest code releases the GIL.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sandbox/limits.hpp"
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
                 uint64_t max_instructions, uint64_t max_memory) {
    auto image = bytes_span(elf);
    auto input = bytes_span(stdin_data);
    sandbox::ExitResult r;
    {
        py::gil_scoped_release release;
        r = sandbox::run_to_exit(image, argv,
                                 std::string_view(reinterpret_cast<const char*>(input.data()), input.size()),
                                 max_instructions, max_memory);
    }
    py::dict d;
    d["outcome"] = sandbox::outcome_name(r.outcome);
    d["reason"] = r.reason;
    d["exit_code"] = r.exit_code;
    d["stdout"] = py::bytes(r.stdout_data);
    d["stderr"] = py::bytes(r.stderr_data);
    d["instructions"] = r.instructions;
    return d;
}

std::unique_ptr<server::Server> make_server(const std::string& host, int port, int threads,
                                            const std::optional<py::bytes>& vanilla_page) {
    server::ServerConfig config;
    config.host = host;
    config.port = port;
    config.threads = threads;
    config.vanilla = vanilla_page.has_value();
    if (vanilla_page) config.vanilla_page = std::string(*vanilla_page);
    return std::make_unique<server::Server>(std::move(config));
}

py::dict load_tenant(server::Server& s, const std::string& name, const py::bytes& elf,
                     const std::vector<std::string>& hosts, const sandbox::Limits& limits, bool is_default) {
    auto image = bytes_span(elf);
    uint64_t init_instructions = 0;
    {
        py::gil_scoped_release release;
        // A LoadError propagates before publish(): the previous version keeps serving.
        auto program = sandbox::Program::load(image, limits, s.log_sink(name));
        init_instructions = program->init_instructions_used();
        s.registry().publish(name, hosts, is_default, std::move(program));
    }
    py::dict d;
    d["init_instructions"] = init_instructions;
    return d;
}

py::list stats_list(const server::Server& s) {
    py::list out;
    for (const auto& [name, snap] : s.stats()) {
        py::dict errors;
        for (size_t i = 0; i < snap.errors.size(); ++i) {
            auto o = static_cast<sandbox::Outcome>(i);
            if (o == sandbox::Outcome::Responded || o == sandbox::Outcome::Ready) continue;
            errors[sandbox::outcome_name(o)] = snap.errors[i];
        }
        py::dict d;
        d["name"] = name;
        d["requests"] = snap.requests;
        d["status_2xx"] = snap.status[0];
        d["status_3xx"] = snap.status[1];
        d["status_4xx"] = snap.status[2];
        d["status_5xx"] = snap.status[3];
        d["errors"] = errors;
        d["sandbox_ns"] = snap.sandbox_ns;
        out.append(d);
    }
    return out;
}

py::list drain_logs(server::Server& s, size_t max) {
    auto entries = s.logs().drain(max);
    py::list out;
    for (const auto& e : entries) out.append(py::make_tuple(lenient_str(e.tenant), lenient_str(e.text)));
    return out;
}

}  // namespace

PYBIND11_MODULE(_core, m) {
    m.doc() = "mtd native engine: RISC-V sandbox and the H2O-based multi-tenant HTTP server";

    py::register_exception<sandbox::LoadError>(m, "LoadError", PyExc_RuntimeError);

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
          py::arg("max_memory") = uint64_t{256} << 20,
          "Runs a static RISC-V ELF to exit like a plain process; returns outcome, reason, exit_code, "
          "stdout, stderr, instructions.");

    py::class_<server::Server>(m, "Server")
        .def(py::init(&make_server), py::arg("host") = "127.0.0.1", py::arg("port") = 8080,
             py::arg("threads") = 0, py::arg("vanilla_page") = py::none(),
             "vanilla_page=None disables /_mtd/vanilla.")
        .def("start", &server::Server::start, py::call_guard<py::gil_scoped_release>())
        .def("stop", &server::Server::stop, py::call_guard<py::gil_scoped_release>())
        .def_property_readonly("running", &server::Server::running)
        .def_property_readonly("port", &server::Server::port)
        .def_property_readonly("threads", &server::Server::threads)
        .def("load_tenant", &load_tenant, py::arg("name"), py::arg("elf"), py::arg("hosts"), py::arg("limits"),
             py::arg("default") = false,
             "Loads (or hot-swaps) a tenant; raises LoadError and keeps the previous version serving.")
        .def(
            "remove_tenant", [](server::Server& s, const std::string& name) { return s.registry().remove(name); },
            py::arg("name"))
        .def("stats", &stats_list,
             "Per-tenant counters; the first entry, named '', counts requests no tenant matched.")
        .def("drain_logs", &drain_logs, py::arg("max") = 1000, "Up to `max` (tenant, text) pairs, oldest first.")
        .def_property_readonly("dropped_logs", [](server::Server& s) { return s.logs().dropped(); });
}
