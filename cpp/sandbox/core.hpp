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
    uint64_t rng = 0x9e3779b97f4a7c15ull;  // getrandom stream (deterministic)
    std::string iobuf;                      // gathers one write() for the sink

    Core() { iobuf.reserve(kMaxIoChunk); }
    static constexpr uint64_t kMaxIoChunk = 64 * 1024;

    Stop run(uint64_t limit) { return interpret(hart, mem, *text, limit); }
    // After an ecall was handled: step over it (and count it).
    void retire_ecall() {
        hart.pc += 4;
        ++hart.instret;
    }
    uint64_t& reg(int i) { return hart.x[i]; }
};

// What the system-call layer needs from the run mode.
struct SysEnv {
    virtual ~SysEnv() = default;
    virtual void output(int fd, std::string_view data) = 0;   // fd 1 or 2
    virtual int64_t input(uint8_t* dst, uint64_t n) = 0;      // fd 0; <0 = -errno
};

enum class SysAction : uint8_t { Continue, Exit, Abort };

// Handles the Linux system call in a7 (a0..a5 arguments, result in a0).
// Never touches host files, sockets or processes.
SysAction linux_syscall(Core& c, SysEnv& env, int& exit_code);

// Static one-line reason for a stop, and a detailed line (with addresses)
// written into buf.
const char* stop_reason(const Core& c, Stop s);
void stop_detail(const Core& c, Stop s, char* buf, size_t size);

}  // namespace mtd::sandbox::detail
