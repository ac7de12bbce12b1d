// A time slice: how much of a request's work runs before the guest is
// paused so that its worker thread can serve other requests in between.
// A request within its limits but longer than one slice finishes over
// several event-loop turns (see Machine::start/resume). Host time is what
// a neighbour waits for, but the hot path should not read a clock, so the
// slice is counted in what costs host time:
//  - guest instructions (a few ns each);
//  - pages charged to the memory limit (a page copy or a fresh page, about
//    0.5 µs each: a memory bomb does little else);
//  - system calls and other ecalls, which can cost far more than an
//    instruction: each counts as kEcallInstructions, and after those that
//    can be slow (Linux system calls, large request-field copies) the clock
//    is read and the slice ends after `nanos`.
#pragma once
#include <cstdint>

namespace mtd::sandbox {

struct Slice {
    uint64_t instructions = 25'000;
    uint64_t pages = 128;
    uint64_t nanos = 100'000;

    // What an ecall uses of the slice's instructions.
    static constexpr uint64_t kEcallInstructions = 16;
    // No slicing: the request runs to completion in one go.
    static constexpr Slice whole() { return {~0ull, ~0ull, ~0ull}; }
};

}  // namespace mtd::sandbox
