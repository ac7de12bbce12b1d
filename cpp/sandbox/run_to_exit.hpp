// Runs a static RISC-V ELF like a plain process (the way qemu-riscv64 does)
// until it exits: used by the differential tests against qemu and by tools.
#pragma once
#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "outcome.hpp"

namespace mtd::sandbox {

struct ExitResult {
    Outcome outcome = Outcome::Fault;  // Exited when the program ended normally
    std::string reason;
    int exit_code = 0;
    std::string stdout_data;
    std::string stderr_data;
    uint64_t instructions = 0;
    // The hart's registers where it stopped (x0..x31; f0..f31 as bits).
    std::array<uint64_t, 32> x{};
    std::array<uint64_t, 32> f{};
    // Decoder cache units (text.hpp) decoded by the end, out of text_units.
    uint64_t decoded_units = 0;
    uint64_t text_units = 0;
    // Tiering::emit: C++ translating the blocks the run entered.
    std::string translation_source;
    // Of `instructions`, those that ran in translated code.
    uint64_t translated_instructions = 0;
};

// The second execution tier in a plain run, for differential tests and
// tools: note what runs and emit its translation, or run in a compiled one.
struct Tiering {
    bool emit = false;
    uint8_t min_runs = 1;  // emit only blocks entered at least this often
    bool frozen = false;   // host clocks and entropy stand still (core.hpp: SysEnv::frozen)
    std::string shared_object;  // non-empty: a translation of this same ELF to run in
};

// eager_decode: decode the whole text before starting, as the decoder cache
// once did (tests check that lazy decoding changes nothing).
ExitResult run_to_exit(std::span<const uint8_t> elf, const std::vector<std::string>& argv,
                       std::string_view stdin_data, uint64_t max_instructions,
                       uint64_t max_memory = 256ull << 20, bool eager_decode = false,
                       const Tiering& tiering = {});

}  // namespace mtd::sandbox
