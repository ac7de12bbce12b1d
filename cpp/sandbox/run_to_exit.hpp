// Runs a static RISC-V ELF like a plain process (the way qemu-riscv64 does)
// until it exits: used by the differential tests against qemu and by tools.
#pragma once
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
};

ExitResult run_to_exit(std::span<const uint8_t> elf, const std::vector<std::string>& argv,
                       std::string_view stdin_data, uint64_t max_instructions,
                       uint64_t max_memory = 256ull << 20);

}  // namespace mtd::sandbox
