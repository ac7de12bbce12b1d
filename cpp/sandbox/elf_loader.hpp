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

// The largest ELF file accepted: the tenant chooses it, and its read-only
// pages are mapped from a copy of the file rather than charged to
// init_memory (ElfImage), so its size is bounded here.
inline constexpr uint64_t kMaxElfBytes = 64ull << 20;

// Loads `elf` into the empty core (its Memory must be attached to an arena)
// and fills `text`. Sets pc and sp. Returns an error line, empty on success.
// share_pages: `elf` is a page-aligned read-only mapping that outlives the
// core, text and every fork (ElfImage); whole file pages of segments are
// then mapped rather than copied.
// at_random: the 16 bytes AT_RANDOM points at (the guest's stack canary
// and pointer guard); default: fresh from the host's CSPRNG. A plain run
// (run_to_exit) passes fixed ones, so that two runs can be compared.
std::string load_elf(std::span<const uint8_t> elf, Core& core, Text& text,
                     const std::vector<std::string>& argv, bool share_pages = false,
                     const uint8_t* at_random = nullptr);

}  // namespace mtd::sandbox::detail
