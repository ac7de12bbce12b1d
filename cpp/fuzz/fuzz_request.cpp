// libFuzzer target: the request-to-guest path. A small tenant
// (request_guest.c, cross-compiled without glibc when this target is built,
// so every execution is spent on the request path) is loaded once;
// every input is split into method/path/query/host/headers/body of a
// RequestView and served with Machine::handle. The guest's control block at
// the start of the body lets the fuzzer choose capacities, hostile pointers
// and oversized answers. Whatever happens, the host must not crash and the
// outcome must be Responded or a contained failure.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "sandbox/machine.hpp"
#include "sandbox/program.hpp"

using namespace mtd::sandbox;

#ifndef MTD_FUZZ_GUEST_ELF
#error "MTD_FUZZ_GUEST_ELF must name the cross-compiled request_guest ELF"
#endif

namespace {

Limits fuzz_limits() {
    Limits l;
    l.request_instructions = 200'000;
    l.request_memory = 16ull << 20;
    l.response_bytes = 1ull << 20;
    return l;
}

const Program& program() {
    static std::shared_ptr<const Program> prog = [] {
        const char* path = std::getenv("MTD_FUZZ_GUEST_ELF");
        if (!path) path = MTD_FUZZ_GUEST_ELF;
        std::ifstream f(path, std::ios::binary);
        if (!f) {
            std::fprintf(stderr, "fuzz_request: cannot open %s\n", path);
            std::abort();
        }
        std::vector<uint8_t> elf{std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
        return Program::load(elf, fuzz_limits(), [](std::string_view) {});
    }();
    return *prog;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static Machine machine;
    static Response response;
    const Program& prog = program();
    FuzzedDataProvider in(data, size);
    const std::string method = in.ConsumeRandomLengthString(16);
    const std::string path = in.ConsumeRandomLengthString(256);
    const std::string query = in.ConsumeRandomLengthString(256);
    const std::string host = in.ConsumeRandomLengthString(64);
    const std::string headers = in.ConsumeRandomLengthString(1024);
    const std::string body = in.ConsumeRemainingBytesAsString();
    const RequestView req{method, path, query, host, headers, body};
    const RunResult r = machine.handle(prog, req, response);
    switch (r.outcome) {
        case Outcome::Responded:
            if (response.content_type.size() + response.body.size() > prog.limits().response_bytes)
                __builtin_trap();
            break;
        case Outcome::BudgetExhausted:
        case Outcome::MemoryExhausted:
        case Outcome::Fault:
        case Outcome::ResponseTooLarge:
        case Outcome::NoResponse:
            if (!r.reason || !*r.reason) __builtin_trap();  // every failure names its reason
            break;
        default:
            __builtin_trap();  // Ready/Exited must never come out of a request
    }
    if (r.instructions > prog.limits().request_instructions + 64) __builtin_trap();
    return 0;
}
