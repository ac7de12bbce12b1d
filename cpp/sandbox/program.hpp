// A loaded tenant program: the ELF's decoded text (shared by every fork) and
// the master machine state captured when the guest signalled MTD_ECALL_READY.
// Immutable once load() returns, so any number of worker threads may fork it
// at the same time without locks. (The decoder cache still fills in as code
// first runs, under its own lock off the hot path: text.hpp.)
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>

#include "exchange.hpp"
#include "limits.hpp"

namespace mtd::sandbox {

// Receives what the guest writes to stdout/stderr (fd 1 and 2), in chunks as
// written. Called on whichever thread runs the guest: the loading thread
// during init, a worker thread during a request. Must be thread-safe.
using LogSink = std::function<void(std::string_view)>;

// A load that failed: bad ELF, fault or exhausted budget in start-up or
// on_init, exit before ready. what() is one readable line.
struct LoadError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// The second execution tier's source for a program (translate/emitter.hpp).
struct TranslationSource {
    std::string source;  // C++ against translate/runtime.hpp; empty: nothing to translate
    uint64_t entries = 0;
    uint64_t instructions = 0;
};

class Program {
public:
    // Parses the static RISC-V ELF, builds the initial stack (argv, envp,
    // auxv), runs glibc start-up and on_init under limits.init_instructions
    // until the guest makes MTD_ECALL_READY, and keeps that state as master.
    static std::shared_ptr<const Program> load(std::span<const uint8_t> elf,
                                               const Limits& limits, LogSink log);

    const Limits& limits() const { return limits_; }
    const LogSink& log() const { return log_; }
    uint64_t init_instructions_used() const;

    // Translated code for what the program's warm-up request ran (the code
    // requests run), and what profile() ran: C++ for the host compiler,
    // compiled by the caller.
    TranslationSource translation_source() const;
    // Runs `request` (on a Machine of its own, its answer thrown away) and
    // adds the code it ran to what translation_source() translates.
    void profile(const RequestView& request) const;
    // Loads the compiled translation; from the next request on, forks of
    // this Program run in it wherever it has code. Once per Program; throws
    // std::runtime_error if it cannot be loaded or is not this program's.
    void attach_translation(const std::string& shared_object) const;
    bool translated() const;

    ~Program();
    Program(const Program&) = delete;
    Program& operator=(const Program&) = delete;

private:
    Program();
    Limits limits_;
    LogSink log_;
    struct State;                  // defined in program.cpp / the sandbox internals
    std::unique_ptr<State> state_;
    friend class Machine;
};

}  // namespace mtd::sandbox
