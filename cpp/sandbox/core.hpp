// One runnable guest: hart + memory + the decoded text it executes, and the
// small scratch state the system-call layer needs. Program (master), Machine
// (per-thread fork) and run_to_exit each own one.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

#include "hart.hpp"
#include "memory.hpp"

namespace mtd::sandbox::detail {

struct Core {
    Hart hart;
    Memory mem;
    const Text* text = nullptr;
    std::string iobuf;  // gathers one write() for the sink

    Core() { iobuf.reserve(kMaxIoChunk); }
    static constexpr uint64_t kMaxIoChunk = 64 * 1024;

    Stop run(uint64_t limit) { return interpret(hart, mem, *text, limit); }
    // After an ecall was handled: step over it, counting it and the work
    // it did (SysCall::work).
    void retire_ecall(uint64_t work = 0) {
        hart.pc += 4;
        hart.instret += 1 + work;
    }
    uint64_t& reg(int i) { return hart.x[i]; }
};

// What the system-call layer needs from the run mode.
struct SysEnv {
    virtual ~SysEnv() = default;
    virtual void output(int fd, std::string_view data) = 0;   // fd 1 or 2
    virtual int64_t input(uint8_t* dst, uint64_t n) = 0;      // fd 0; <0 = -errno
    // True: the host's clocks and entropy stand still (wall and monotonic
    // time read 1 s, random bytes are 0x5a), so runs can be compared byte
    // for byte: fuzz builds always (layout.hpp), plain runs when asked.
    virtual bool frozen() const { return kFrozenHost; }
};

// Budget: the call's work would cost more than `budget`, so it did nothing
// (the run ends as out of budget, at the ecall). Later: it did nothing
// because its work does not fit in the time slice (SysCall::slice); the
// ecall runs again at the start of the next one.
enum class SysAction : uint8_t { Continue, Exit, Abort, Budget, Later };

// One system call's accounting. A call's work is charged to the
// instruction budget like a native's (natives.hpp): 1 per 8 bytes copied,
// 1 per page-table entry changed or searched. Work known before the call
// runs is checked against `budget` first; an mmap's search for free space
// (at most one entry per page of the mmap area) is charged after it.
struct SysCall {
    uint64_t budget = ~0ull;  // instructions the caller can pay for work
    // What is left of the time slice, when the call may wait for the next
    // one: work past it makes the call do nothing and return Later.
    uint64_t slice = ~0ull;
    uint64_t work = 0;        // what the call charged: pass to retire_ecall
    int exit_code = 0;        // for Exit and Abort
    bool over_budget = false; // set by a charge the budget could not pay
    bool later = false;       // set by a charge the slice could not hold
};

// Handles the Linux system call in a7 (a0..a5 arguments, result in a0).
// Never touches host files, sockets or processes; writes to the guest only
// bytes it computed or checked.
SysAction linux_syscall(Core& c, SysEnv& env, SysCall& call);

// Static one-line reason for a stop, and a detailed line (with addresses)
// written into buf.
const char* stop_reason(const Core& c, Stop s);
void stop_detail(const Core& c, Stop s, char* buf, size_t size);

}  // namespace mtd::sandbox::detail
