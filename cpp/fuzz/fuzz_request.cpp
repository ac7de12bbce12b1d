// libFuzzer target: the request-to-guest path. A small tenant
// (request_guest.c, cross-compiled without glibc when this target is built,
// so every execution is spent on the request path) is loaded once;
// every input is split into method/path/query/host/headers/body of a
// RequestView and served by two Machines (see LLVMFuzzerTestOneInput). The
// guest's control block at the start of the body lets the fuzzer choose
// capacities, hostile pointers and oversized answers. Whatever happens, the
// host must not crash and the outcome must be Responded or a contained
// failure.
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "sandbox/decoder.hpp"
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

// Everything a client or the guest's next request can see of a request.
struct Seen {
    Outcome outcome;
    std::string reason;
    int status = 0;
    std::string content_type, body;
    uint64_t instructions = 0, memory = 0;
    bool operator==(const Seen&) const = default;
};

// One request, sliced when slice.instructions is small; the longest slice
// in instructions goes to `longest`.
Seen serve(Machine& m, const RequestView& req, const Slice& slice, uint64_t& longest) {
    static Response out;
    RunResult r;
    longest = 0;
    uint64_t before = 0;
    for (bool done = m.start(program(), req, out, slice, r);; done = m.resume(req, out, r)) {
        longest = std::max(longest, m.request_instructions() - before);
        before = m.request_instructions();
        if (done) break;
    }
    Seen s{r.outcome, r.reason ? r.reason : "", 0, {}, {}, r.instructions, m.last_request_memory()};
    if (r.outcome == Outcome::Responded) {
        s.status = out.status;
        s.content_type = out.content_type;
        s.body = out.body;
    }
    return s;
}

}  // namespace

// Each input is served twice: on a Machine that served the previous input
// just before, in one go; and on another that first served an earlier
// input too, in time slices whose size the input picks. Both must see the
// same (nothing of an earlier request, or of slicing, is observable), and
// the budget and each slice must hold to within kMaxSegment instructions
// (plus one request_field copy's work, at most 8 KiB / 8, for slices).
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static Machine whole, sliced;
    static std::string previous;
    const Program& prog = program();
    FuzzedDataProvider in(data, size);
    const uint64_t slice_size = 1 + in.ConsumeIntegralInRange<uint64_t>(0, 5000);
    const std::string method = in.ConsumeRandomLengthString(16);
    const std::string path = in.ConsumeRandomLengthString(256);
    const std::string query = in.ConsumeRandomLengthString(256);
    const std::string host = in.ConsumeRandomLengthString(64);
    const std::string headers = in.ConsumeRandomLengthString(1024);
    const std::string body = in.ConsumeRemainingBytesAsString();
    const RequestView req{method, path, query, host, headers, body};

    uint64_t longest = 0;
    const Seen a = serve(whole, req, Slice::whole(), longest);
    switch (a.outcome) {
        case Outcome::Responded:
            if (a.content_type.size() + a.body.size() > prog.limits().response_bytes) __builtin_trap();
            break;
        case Outcome::BudgetExhausted:
        case Outcome::MemoryExhausted:
        case Outcome::Fault:
        case Outcome::ResponseTooLarge:
        case Outcome::NoResponse:
            if (a.reason.empty()) __builtin_trap();  // every failure names its reason
            break;
        default:
            __builtin_trap();  // Ready/Exited must never come out of a request
    }
    if (a.instructions > prog.limits().request_instructions + detail::kMaxSegment - 1) __builtin_trap();

    const RequestView earlier{previous, previous, previous, previous, previous, previous};
    serve(sliced, earlier, Slice::whole(), longest);
    Slice slice;
    slice.instructions = slice_size;
    const Seen b = serve(sliced, req, slice, longest);
    // Fault reasons name addresses and pc: the same on both.
    if (!(a == b)) __builtin_trap();
    if (longest > slice_size + detail::kMaxSegment + 1024 + Slice::kEcallInstructions) __builtin_trap();
    previous = body;
    return 0;
}
