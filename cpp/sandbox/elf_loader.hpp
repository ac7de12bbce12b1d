// Static RISC-V ELF loading: PT_LOAD segments mapped at their addresses with
// their permissions, the decoder cache built over the executable ones, and
// the initial process stack (argc, argv, envp, auxv) the kernel would build.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core.hpp"

namespace mtd::sandbox::detail {

// Loads `elf` into the empty core (its Memory must be attached to an arena)
// and fills `text`. Sets pc and sp. Returns an error line, empty on success.
std::string load_elf(std::span<const uint8_t> elf, Core& core, Text& text,
                     const std::vector<std::string>& argv);

}  // namespace mtd::sandbox::detail
