// The guest's virtual address space. Everything lives below 4 GiB so a
// two-level page table of 2048 top entries x 512 leaf entries covers it and
// any address with bits above 31 set is rejected by one shift.
#pragma once
#include <cstdint>

namespace mtd::sandbox::detail {

inline constexpr uint64_t kPageBits = 12;
inline constexpr uint64_t kPageSize = 1ull << kPageBits;
inline constexpr uint64_t kPageMask = kPageSize - 1;
inline constexpr uint64_t kLeafBits = 9;
inline constexpr uint64_t kLeafEntries = 1ull << kLeafBits;
inline constexpr uint64_t kSpaceBits = 32;
inline constexpr uint64_t kSpaceSize = 1ull << kSpaceBits;
inline constexpr uint64_t kTopShift = kPageBits + kLeafBits;  // 2 MiB per leaf
inline constexpr uint64_t kTopEntries = kSpaceSize >> kTopShift;

// ELF at its link address (0x10000 for the default riscv64 linker script),
// then brk heap up to kBrkLimit, anonymous mmaps above, stack at the top.
inline constexpr uint64_t kBrkLimit = 0x4000'0000;
inline constexpr uint64_t kMmapBase = 0x4000'0000;
inline constexpr uint64_t kMmapEnd = 0xE000'0000;
inline constexpr uint64_t kStackTop = 0xF000'0000;
inline constexpr uint64_t kStackSize = 8ull << 20;

// The fuzz targets (cpp/fuzz) run each input twice and compare everything
// the guest can observe, so in their build the host's clocks and entropy
// stand still (syscalls.cpp, elf_loader.cpp). Never set in a server build.
#ifdef MTD_FUZZ_BUILD
inline constexpr bool kFrozenHost = true;
#else
inline constexpr bool kFrozenHost = false;
#endif

inline constexpr uint64_t page_down(uint64_t a) { return a & ~kPageMask; }
inline constexpr uint64_t page_up(uint64_t a) { return (a + kPageMask) & ~kPageMask; }

}  // namespace mtd::sandbox::detail
