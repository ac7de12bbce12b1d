// Guest memory: a two-level page table over the 4 GiB guest space whose
// entries are host page pointers with flags in the low 12 bits.
//
// Copy-on-write is expressed with one flag, kOwned: a page (or leaf) carries
// it only if it belongs to this Memory's arenas and may be written in place.
// The first write to a shared page copies the leaf if needed, then the page.
//
// A fork of the master it forked last time keeps its copied leaves: it puts
// back only the leaf entries the previous request changed (a bitmap per
// leaf says which), so a steady-state request copies only the data pages it
// writes. Leaves still count against the request's memory limit exactly as
// if they were copied afresh (once per leaf a request changes), so limits do
// not depend on what ran before. Anonymous memory
// (brk, mmap, stack) starts as the shared zero page, so it costs nothing
// until written, yet reads as zeros. Unmapped pages have entry 0 and fault.
#pragma once
#include <cstdint>
#include <cstring>

#include "arena.hpp"
#include "layout.hpp"

namespace mtd::sandbox::detail {

inline constexpr uintptr_t kPteR = 1;        // same values as PROT_READ/WRITE/EXEC
inline constexpr uintptr_t kPteW = 2;
inline constexpr uintptr_t kPteX = 4;
inline constexpr uintptr_t kPteOwned = 8;    // page/leaf belongs to this Memory's arena
inline constexpr uintptr_t kPteMapped = 16;  // part of a mapping (set even for PROT_NONE)
inline constexpr uintptr_t kPteFlags = 0xFFF;

extern const uint8_t g_zero_page[kPageSize];
extern const uintptr_t g_empty_leaf[kLeafEntries];

// Address-space bookkeeping copied wholesale by a fork.
struct Layout {
    uint64_t brk_start = 0;
    uint64_t brk = 0;
    uint64_t mmap_hint = kMmapBase;
    uint64_t exec_lo = 0, exec_hi = 0;  // text range, never writable
};

class Memory {
public:
    Memory();
    // Empty address space. Pages come from `arena`; leaves from `leaf_arena`
    // (nullptr: `arena` too). A Machine passes its own leaf arena so that
    // leaves outlive the per-request reset of `arena`.
    void attach(Arena* arena, uint64_t limit_bytes, Arena* leaf_arena = nullptr);

    // ---- checked guest access (false = fault; oom() says if it was the cap)
    template <class T>
    bool load(uint64_t a, T& v) const {
        const uint8_t* p = read_ptr(a);
        if (__builtin_expect(p != nullptr && (a & kPageMask) <= kPageSize - sizeof(T), 1)) {
            std::memcpy(&v, p, sizeof(T));
            return true;
        }
        return read_bytes(a, &v, sizeof(T));
    }
    template <class T>
    bool store(uint64_t a, T v) {
        uint8_t* p = write_ptr_fast(a);
        if (__builtin_expect(p != nullptr && (a & kPageMask) <= kPageSize - sizeof(T), 1)) {
            std::memcpy(p, &v, sizeof(T));
            return true;
        }
        return write_bytes(a, &v, sizeof(T));
    }
    // Translation-cache hits for a naturally aligned T (so it cannot cross
    // the page): host pointer, or nullptr (then use load/store/read_ptr).
    template <class T>
    const uint8_t* read_hit(uint64_t a) const {
        if (__builtin_expect((a >> kPageBits) == r_vpn_ && (a & (sizeof(T) - 1)) == 0, 1))
            return reinterpret_cast<const uint8_t*>(a + r_off_);
        return nullptr;
    }
    template <class T>
    uint8_t* write_hit(uint64_t a) const {
        if (__builtin_expect((a >> kPageBits) == w_vpn_ && (a & (sizeof(T) - 1)) == 0, 1))
            return reinterpret_cast<uint8_t*>(a + w_off_);
        return nullptr;
    }
    const uint8_t* read_ptr(uint64_t a) const {
        if ((a >> kPageBits) == r_vpn_) return reinterpret_cast<const uint8_t*>(a + r_off_);
        if (a >> kSpaceBits) return nullptr;
        const uintptr_t* leaf = reinterpret_cast<const uintptr_t*>(top_[a >> kTopShift] & ~kPteFlags);
        uintptr_t e = leaf[(a >> kPageBits) & (kLeafEntries - 1)];
        if (!(e & kPteR)) return nullptr;
        r_vpn_ = a >> kPageBits;
        r_off_ = (e & ~kPteFlags) - (a & ~kPageMask);
        return reinterpret_cast<const uint8_t*>(a + r_off_);
    }
    // Host pointer for writing at a, copying the page first if it is shared.
    uint8_t* write_ptr(uint64_t a) {
        uint8_t* p = write_ptr_fast(a);
        return p ? p : write_slow(a);
    }
    bool read_bytes(uint64_t a, void* dst, uint64_t n) const;
    bool write_bytes(uint64_t a, const void* src, uint64_t n);
    bool fill_bytes(uint64_t a, uint8_t byte, uint64_t n);

    // ---- mappings (addresses page aligned, ranges inside the space)
    bool map_anon(uint64_t a, uint64_t len, uintptr_t prot);  // replaces what was there
    void unmap(uint64_t a, uint64_t len);
    bool protect(uint64_t a, uint64_t len, uintptr_t prot);   // false if a page is unmapped
    bool is_free(uint64_t a, uint64_t len) const;
    bool is_mapped(uint64_t a, uint64_t len) const;
    uint64_t find_free(uint64_t len, uint64_t lo, uint64_t hi, uint64_t hint) const;
    // Loader: a private, zeroed, owned page at a with prot (ORed if present).
    uint8_t* populate(uint64_t a, uintptr_t prot);
    // Loader: copies into populated pages regardless of their protection.
    bool write_bytes_loader(uint64_t a, const void* src, uint64_t n);
    // Loader: maps `page`, host memory that is never written and outlives
    // this Memory and its forks (a read-only file mapping), at a with prot.
    // Not owned, so never written in place: a guest write copies it first,
    // and like the zero page it is charged to the limit only then.
    bool map_shared(uint64_t a, const uint8_t* page, uintptr_t prot);

    // ---- fork support
    void seal();  // master: drop kOwned everywhere, nothing is writable in place
    // Sealed master: returns the change bitmaps to the kernel. seal() left
    // them zero and only forks use them, but they were touched (128 KiB).
    void trim_sealed();
    void fork_from(const Memory& master, bool same_master_as_last_time);

    void set_limit(uint64_t bytes) { limit_ = bytes; }
    bool oom() const { return oom_; }
    uint64_t used_bytes() const { return used_; }
    // Bytes this fork physically copied (pages and leaves) since the fork:
    // what the copy-on-write costs, as opposed to what the limit counts.
    uint64_t copied_bytes() const { return copied_; }
    Layout layout;

private:
    uint8_t* write_ptr_fast(uint64_t a) const {
        if ((a >> kPageBits) == w_vpn_) return reinterpret_cast<uint8_t*>(a + w_off_);
        if (a >> kSpaceBits) return nullptr;
        const uintptr_t* leaf = reinterpret_cast<const uintptr_t*>(top_[a >> kTopShift] & ~kPteFlags);
        uintptr_t e = leaf[(a >> kPageBits) & (kLeafEntries - 1)];
        if ((e & (kPteW | kPteOwned)) != (kPteW | kPteOwned)) return nullptr;
        w_vpn_ = a >> kPageBits;
        w_off_ = (e & ~kPteFlags) - (a & ~kPageMask);
        return reinterpret_cast<uint8_t*>(a + w_off_);
    }
    // Forgets the cached translations: called before any page-table change.
    void invalidate() const {
        r_vpn_ = w_vpn_ = ~0ull;
    }
    uint8_t* write_slow(uint64_t a);
    uintptr_t* own_leaf(uint64_t a);     // leaf for a, copied/created if shared
    uintptr_t* own_entry(uint64_t a);    // its entry in that leaf, marked changed
    void* new_page();                    // counted against the limit
    void drop_entry(uintptr_t& e);

    // One-entry translation caches in front of the page-table walk: the guest
    // page number and host page of the last successful read walk (readable
    // page) and write walk (owned, writable page). Filled only from a walk
    // that passed its checks, so a hit implies the address is in the space
    // and the permission holds; every page-table change goes through
    // own_leaf(), fork_from(), attach() or seal(), which call invalidate().
    mutable uint64_t r_vpn_ = ~0ull;
    mutable uintptr_t r_off_ = 0;  // host page - guest page address
    mutable uint64_t w_vpn_ = ~0ull;
    mutable uintptr_t w_off_ = 0;

    uintptr_t top_[kTopEntries];
    Arena* arena_ = nullptr;       // pages: reset by every fork
    Arena* leaf_arena_ = nullptr;  // leaves: reset only when the master changes
    uint64_t used_ = 0;
    uint64_t copied_ = 0;
    uint64_t limit_ = 0;
    bool oom_ = false;
    // Leaves this request changed (charged once each against the limit),
    // and per leaf which of its entries differ from the master's.
    uint32_t ndirty_ = 0;
    uint16_t dirty_[kTopEntries];
    bool charged_[kTopEntries] = {};
    uint64_t changed_[kTopEntries][kLeafEntries / 64] = {};
};

}  // namespace mtd::sandbox::detail
