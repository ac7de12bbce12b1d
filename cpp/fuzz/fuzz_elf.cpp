// libFuzzer target: arbitrary bytes as a static RISC-V ELF, run like a plain
// process (run_to_exit) under a small instruction budget and memory cap.
// Whatever the bytes, the host must not crash, leak, or hang: every way the
// run can end is an ExitResult.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "sandbox/decoder.hpp"
#include "sandbox/run_to_exit.hpp"

using namespace mtd::sandbox;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const std::vector<std::string> argv{"fuzz"};
    ExitResult r = run_to_exit(std::span<const uint8_t>(data, size), argv, "stdin", 100'000, 16ull << 20);
    if (r.outcome == Outcome::Responded || r.outcome == Outcome::Ready) __builtin_trap();
    if (r.instructions > 100'000 + detail::kMaxSegment - 1) __builtin_trap();  // the budget must hold
    return 0;
}
