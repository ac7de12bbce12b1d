// The translation caches in front of Memory's page-table walk (memory.hpp),
// as plain structs: translated code (translate/runtime.hpp) reads them the
// same way the interpreter's fast paths do, so their layout is shared here.
#pragma once
#include <cstdint>

namespace mtd::sandbox::detail {

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

// What a fast-path access needs: both caches and the request number a
// write slot's gen must equal to count as a hit.
struct TlbView {
    const ReadSlot* reads;
    const WriteSlot* writes;
    const uint64_t* gen;
};

}  // namespace mtd::sandbox::detail
