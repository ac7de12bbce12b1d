// Architectural state of the single guest hart, plus why it last stopped.
// Plain data; a fork starts from its master's with fork_from().
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "text.hpp"
#include "memory.hpp"

namespace mtd::sandbox::detail {

// CodeLimit: the program ran more distinct code than its decoded records
// may take (Text::kMaxDecodedUnits).
enum class Fault : uint8_t { None, Load, Store, Fetch, Illegal, Breakpoint, Misaligned, CodeLimit };

struct Hart {
    uint64_t x[33] = {};  // x[32] is the write sink for rd = x0
    uint64_t pc = 0;
    uint64_t instret = 0;
    uint32_t fflags = 0;  // accrued flags not currently held in the host MXCSR
    uint32_t frm = 0;
    uint64_t reservation = ~0ull;  // LR address; ~0 = none
    Fault fault = Fault::None;
    uint64_t fault_addr = 0;
    // A fork's f registers until its first FP instruction copies them (a
    // master's f), or nullptr: f is this hart's own.
    const uint64_t* f_source = nullptr;
    uint64_t f[32] = {};  // last: a fork copies everything before it at once

    // Starts a fork of `master` (whose f is its own). Most requests run no
    // FP instruction, so f (4 cache lines, cold in a busy server) is copied
    // only by the first one (interpreter.cpp: fp_first_use).
    void fork_from(const Hart& master) {
        std::memcpy(static_cast<void*>(this), &master, offsetof(Hart, f));
        f_source = master.f;
    }
};

// Translated: only from interpret_tier2, which stopped at a block entry
// (pc, nothing of it counted) that has translated code.
enum class Stop : uint8_t { Ecall, Fault, Budget, MemoryLimit, Translated };

// Runs until an ecall, a fault, the memory cap, or instret reaching `limit`.
// On Ecall, pc points at the ecall (the caller advances it by 4).
Stop interpret(Hart& h, Memory& m, const Text& t, uint64_t limit);
// The same, but stops at every block entry whose slot's bit is set in
// `translated` (one bit per slot of t, sentinels included).
Stop interpret_tier2(Hart& h, Memory& m, const Text& t, uint64_t limit, const uint64_t* translated);
// The same as interpret, and counts (to 255) in entries_run[slot] every
// block entry it runs (what a request runs: what is worth translating).
Stop interpret_profiled(Hart& h, Memory& m, const Text& t, uint64_t limit, uint8_t* entries_run);

}  // namespace mtd::sandbox::detail
