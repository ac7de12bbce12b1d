// The translation caches in front of Memory's page-table walk (memory.hpp),
// as plain structs: translated code (translate/runtime.hpp) reads them the
// same way the interpreter's fast paths do, so their layout is shared here.
#pragma once
#include <cstdint>

#include "layout.hpp"

namespace mtd::sandbox::detail {

// Page-table entries are host page pointers with these flags in the low 12
// bits (memory.hpp).
inline constexpr uintptr_t kPteR = 1;        // same values as PROT_READ/WRITE/EXEC
inline constexpr uintptr_t kPteW = 2;
inline constexpr uintptr_t kPteX = 4;
inline constexpr uintptr_t kPteOwned = 8;    // page/leaf belongs to this Memory's arena
inline constexpr uintptr_t kPteMapped = 16;  // part of a mapping (set even for PROT_NONE)
inline constexpr uintptr_t kPteFlags = 0xFFF;

// Direct-mapped, indexed by the guest page number's low bits.
inline constexpr unsigned kTlbSlots = 16;

struct ReadSlot {
    uint64_t vpn = ~0ull;
    uintptr_t off = 0;  // host page - guest page address
};

struct WriteSlot {
    uint64_t vpn = ~0ull;
    uintptr_t off = 0;
    uint64_t* lines = nullptr;  // the page's written-line mask (64-byte lines)
    uint64_t gen = 0;           // the request that charged the page
};

// The host address of guest address a for reading, or null if a's page is
// not readable; t is a's read slot, filled on a walk that found it
// readable. What Memory::read_ptr does, and translated code on a miss.
inline const uint8_t* read_walk(const uintptr_t* top, ReadSlot& t, uint64_t a) {
    if ((a >> kPageBits) == t.vpn) return reinterpret_cast<const uint8_t*>(a + t.off);
    if (a >> kSpaceBits) return nullptr;
    const uintptr_t* leaf = reinterpret_cast<const uintptr_t*>(top[a >> kTopShift] & ~kPteFlags);
    const uintptr_t e = leaf[(a >> kPageBits) & (kLeafEntries - 1)];
    if (!(e & kPteR)) return nullptr;
    t.vpn = a >> kPageBits;
    t.off = (e & ~kPteFlags) - (a & ~kPageMask);
    return reinterpret_cast<const uint8_t*>(a + t.off);
}

// What a fast-path access needs: both caches, the request number a write
// slot's gen must equal to count as a hit, and the page table's top level.
struct TlbView {
    ReadSlot* reads;
    const WriteSlot* writes;
    const uint64_t* gen;
    const uintptr_t* top;
};

}  // namespace mtd::sandbox::detail
