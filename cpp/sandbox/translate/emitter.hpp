// The second execution tier's code generator: the decoded records of the
// blocks a program's requests run, written out as one C++ function
// (abi.hpp: mtd_t2_run) that the host compiles and loads. The function
// keeps guest registers in locals, checks the budget at every block entry
// and segment head exactly where the interpreter does, reaches memory only
// through runtime.hpp's checked accessors, and returns to the host at every
// ecall, fault, budget stop or jump to code it does not hold.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "../text.hpp"

namespace mtd::sandbox::translate {

struct Emitted {
    std::string source;        // C++ for runtime.hpp (empty: nothing to translate)
    uint64_t entries = 0;      // labels the host may enter at
    uint64_t instructions = 0; // guest instructions translated
};

// Translates the blocks starting at `entry_slots` (slots of t's text, each
// the start of a block the interpreter ran). Blocks that run into code that
// cannot be decoded are left out. Thread-safe against other users of t.
Emitted emit_translation(const detail::Text& t, const std::vector<uint64_t>& entry_slots);

// The slots of interpret_profiled's counts entered at least min_runs times.
std::vector<uint64_t> entries_run(const std::vector<uint8_t>& counts, uint8_t min_runs);

}  // namespace mtd::sandbox::translate
