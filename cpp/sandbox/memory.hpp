// Guest memory: a two-level page table over the 4 GiB guest space whose
// entries are host page pointers with flags in the low 12 bits.
//
// Copy-on-write is expressed with one flag, kOwned: a page (or leaf) carries
// it only if it belongs to this Memory's arenas and may be written in place.
// The first write to a shared page copies the leaf if needed, then the page.
//
// A fork of the master it forked last time keeps its copied leaves: it puts
// back only the leaf entries the previous request changed (a bitmap per
// leaf says which). With keep_copies() it also keeps its copied pages: every
// write marks the 64-byte lines it touches, and the next fork copies back
// only those lines from the master, so a steady-state request copies a few
// hundred bytes instead of whole pages. Leaves and kept pages still count
// against the request's memory limit exactly as if they were copied afresh
// (once per leaf or page a request writes), so limits do not depend on what
// ran before. What a fork keeps between requests is capped (kMaxKeptBytes,
// and at most the tenant's own request_memory): past it, the next fork
// starts afresh and the rest goes back to the kernel. Anonymous memory
// (brk, mmap, stack) starts as the shared zero page, so it costs nothing
// until written, yet reads as zeros. Unmapped pages have entry 0 and fault.
#pragma once
#include <cstdint>
#include <cstring>
#include <vector>

#include "arena.hpp"
#include "layout.hpp"
#include "tlb.hpp"

namespace mtd::sandbox::detail {


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
    ~Memory();
    Memory(const Memory&) = delete;
    Memory& operator=(const Memory&) = delete;
    // Empty address space. Pages come from `arena`; leaves from `leaf_arena`
    // (nullptr: `arena` too). A Machine passes its own leaf arena so that
    // leaves outlive the per-request reset of `arena`.
    void attach(Arena* arena, uint64_t limit_bytes, Arena* leaf_arena = nullptr);
    // A per-thread fork (Machine): keep copied pages from one request to the
    // next of the same master. `arena` is then reset only when the master
    // changes. False if the host cannot reserve the bookkeeping.
    bool keep_copies();

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
        if (__builtin_expect((a & kPageMask) <= kPageSize - sizeof(T), 1)) {
            uint8_t* p = write_ptr(a, sizeof(T));
            if (!p) return false;
            std::memcpy(p, &v, sizeof(T));
            return true;
        }
        return write_bytes(a, &v, sizeof(T));
    }
    // The interpreter's fast paths: a naturally aligned T (so it cannot
    // cross the page) on a translation-cache hit. False: use load/store.
    template <class T>
    bool load_hit(uint64_t a, T& v) const {
        const ReadSlot& t = slot(rtlb_, a);
        if (__builtin_expect((a >> kPageBits) != t.vpn || (a & (sizeof(T) - 1)) != 0, 0)) return false;
        std::memcpy(&v, reinterpret_cast<const void*>(a + t.off), sizeof(T));
        return true;
    }
    template <class T>
    bool store_hit(uint64_t a, T v) {
        const WriteSlot& t = slot(wtlb_, a);
        if (__builtin_expect((a >> kPageBits) != t.vpn || t.gen != gen_ || (a & (sizeof(T) - 1)) != 0, 0))
            return false;
        *t.lines |= 1ull << ((a & kPageMask) >> kLineBits);  // see keep_copies()
        std::memcpy(reinterpret_cast<void*>(a + t.off), &v, sizeof(T));
        return true;
    }
    const uint8_t* read_ptr(uint64_t a) const { return read_walk(top_, slot(rtlb_, a), a); }
    // Host pointer for writing len bytes at a (inside one page), copying the
    // page first if it is shared. The caller must write only those bytes:
    // they are what the next fork copies back.
    uint8_t* write_ptr(uint64_t a, uint64_t len) {
        uint8_t* p = write_ptr_fast(a);
        if (!p) {
            if (!write_slow(a)) return nullptr;
            p = write_ptr_fast(a);
            if (!p) return nullptr;
        }
        const uint64_t lo = (a & kPageMask) >> kLineBits, hi = ((a & kPageMask) + len - 1) >> kLineBits;
        *slot(wtlb_, a).lines |= (~0ull >> (63 - (hi - lo))) << lo;
        return p;
    }
    bool read_bytes(uint64_t a, void* dst, uint64_t n) const;
    bool write_bytes(uint64_t a, const void* src, uint64_t n);

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
    // Gives every page, leaf and bookkeeping page this fork holds back to
    // the kernel (an idle spare Machine). The next fork_from must not be
    // told same_master: nothing of the last one is kept.
    void release();

    // Copied pages and leaves a fork keeps for the next request of the same
    // master: at most this much, and at most the tenant's request_memory.
    static constexpr uint64_t kMaxKeptBytes = 8ull << 20;
    // PageCopy entries written since their array was last given back: each
    // may hold a page of host memory (one 4 KiB page of entries per 128
    // guest pages, hit once per guest page by a strided writer).
    static constexpr uint64_t kMaxPageCopies = kMaxKeptBytes >> kPageBits;

    // The translation caches, for translated code's fast paths (they stay
    // where they are for this Memory's life).
    TlbView tlb_view() const { return {rtlb_, wtlb_, &gen_, top_}; }

    void set_limit(uint64_t bytes) { limit_ = bytes; }
    bool oom() const { return oom_; }
    // Time slicing: a page charged costs host time (a copy or a fresh page)
    // that no instruction count shows, so a slice also ends after `pages`
    // charges. The interpreter looks at slice_spent() after its slow-path
    // writes and ends the slice at the next jump.
    void start_slice(uint64_t pages) { slice_pages_ = pages > INT64_MAX ? INT64_MAX : int64_t(pages); }
    bool slice_spent() const { return slice_pages_ <= 0; }
    uint64_t used_bytes() const { return used_; }
    // Bytes this fork physically copied (pages and leaves) since the fork:
    // what the copy-on-write costs, as opposed to what the limit counts.
    uint64_t copied_bytes() const { return copied_; }
    Layout layout;

private:
    static constexpr uint64_t kLineBits = 6;  // 64 lines of 64 bytes: one uint64_t per page
    // A page this fork copied and keeps: what it is a copy of, and which
    // lines have been written since it last equalled that.
    struct PageCopy {
        const uint8_t* source;
        uint8_t* page;  // the copy (host page), so restoring needs no page-table walk
        uint64_t lines;
        uint64_t gen;  // the request that last charged it against the limit
    };
    static constexpr uint64_t kMaxTouched = 1u << 16;  // more: the next fork starts afresh

    // Writable owned page at a, or nullptr. The first write of a request to
    // a kept page charges it; a translation counts as a hit only once its
    // page is charged in this request (its gen).
    uint8_t* write_ptr_fast(uint64_t a) {
        WriteSlot& t = slot(wtlb_, a);
        if ((a >> kPageBits) == t.vpn) {
            // Kept from an earlier request of this master: the entry is
            // unchanged (fork_from forgets those it puts back), so no walk.
            if (t.gen != gen_) {
                if (!touch(a)) return nullptr;
                t.gen = gen_;
            }
            return reinterpret_cast<uint8_t*>(a + t.off);
        }
        if (a >> kSpaceBits) return nullptr;
        const uintptr_t* leaf = reinterpret_cast<const uintptr_t*>(top_[a >> kTopShift] & ~kPteFlags);
        uintptr_t e = leaf[(a >> kPageBits) & (kLeafEntries - 1)];
        if ((e & (kPteW | kPteOwned)) != (kPteW | kPteOwned)) return nullptr;
        if (copies_ && !touch(a)) return nullptr;
        t.lines = copies_ ? &copies_[a >> kPageBits].lines : &lines_sink_;
        t.gen = gen_;
        t.vpn = a >> kPageBits;
        t.off = (e & ~kPteFlags) - (a & ~kPageMask);
        return reinterpret_cast<uint8_t*>(a + t.off);
    }
    // Forgets cached translations: all of them, all of one kind, or those
    // of the page at a (before its page-table entry changes).
    void invalidate() const {
        invalidate_reads();
        invalidate_writes();
    }
    void invalidate_reads() const {
        for (ReadSlot& t : rtlb_) t.vpn = ~0ull;
    }
    void invalidate_writes() const {
        for (WriteSlot& t : wtlb_) t.vpn = ~0ull;
    }
    void invalidate_page(uint64_t a) const {
        slot(rtlb_, a).vpn = ~0ull;
        slot(wtlb_, a).vpn = ~0ull;
    }
    // The slot for a's page: the page number's low bits, scaled to the slot
    // size straight from the address (one shift and one mask).
    template <class Slot, size_t N>
    static Slot& slot(Slot (&table)[N], uint64_t a) {
        static_assert((N & (N - 1)) == 0 && (sizeof(Slot) & (sizeof(Slot) - 1)) == 0);
        constexpr unsigned scale = __builtin_ctz(sizeof(Slot));
        return *reinterpret_cast<Slot*>(reinterpret_cast<char*>(table) +
                                        ((a >> (kPageBits - scale)) & ((N - 1) << scale)));
    }
    bool charge_page() {                 // one page against the limit (false: oom)
        if (used_ + kPageSize > limit_) {
            oom_ = true;
            return false;
        }
        used_ += kPageSize;
        --slice_pages_;
        return true;
    }
    bool touch(uint64_t a);              // charges a kept page's first write in a request
    bool charge_leaf(uint64_t ti);       // charges leaf ti once per request
    void note_touched(uint64_t a);       // a's page is to be restored by the next fork
    void restore_copies(const Memory& master);
    void forget_page_copies();           // gives copies_' memory back
    uint8_t* write_slow(uint64_t a);
    uintptr_t* own_leaf(uint64_t a);     // leaf for a, copied/created if shared
    uintptr_t* own_entry(uint64_t a);    // its entry in that leaf, marked changed
    void* new_page();                    // counted against the limit
    void drop_entry(uint64_t a, uintptr_t& e);
    void mark_changed(uint64_t ti, uint64_t lo, uint64_t hi);  // entries [lo, hi) of leaf ti
    template <class Fn>
    bool each_entry(uint64_t a, uint64_t len, bool skip_unmapped, Fn fn);  // see memory.cpp

    // Direct-mapped translation caches in front of the page-table walk,
    // indexed by guest page number: for reads (readable pages) and writes
    // (owned, writable pages; a hit also needs the page charged in this
    // request, i.e. the slot's gen). Filled only from a walk that passed its
    // checks, so a hit implies the address is in the space and the
    // permission holds; every page-table change goes through own_leaf(),
    // each_entry(), attach() or seal(), which invalidate, or fork_from(),
    // which forgets the translations of the entries it puts back (all when
    // the master changes, and all write ones when pages are not kept).
    // A request touches a handful of pages (stack, heap, data, rodata):
    // 16 slots keep them all without conflicts in practice.
    mutable ReadSlot rtlb_[kTlbSlots];
    mutable WriteSlot wtlb_[kTlbSlots];
    uint64_t lines_sink_ = 0;  // the line mask when pages are not kept

    // keep_copies(): one PageCopy per guest page (reserved, touched lazily),
    // the pages this request copied or charged, and the request number.
    PageCopy* copies_ = nullptr;
    std::vector<uint32_t> touched_;
    uint64_t ntouched_ = 0;
    bool touched_overflow_ = false;
    uint64_t page_copies_ = 0;  // entries written since copies_ was last given back
    uint64_t gen_ = 1;
    // Some entry was mapped, unmapped or reprotected since the fork: a kept
    // page may no longer be what its PageCopy says (restore_copies checks).
    bool remapped_ = false;

    uintptr_t top_[kTopEntries];
    // Non-zero entries per leaf: lets find_free skip full leaves, so even a
    // failing search of an exhausted mmap area (655,360 pages) stays short.
    // Only ever a shortcut: a leaf not marked full is searched page by page.
    uint16_t in_use_[kTopEntries] = {};
    Arena* arena_ = nullptr;       // pages: reset by every fork
    Arena* leaf_arena_ = nullptr;  // leaves: reset only when the master changes
    uint64_t used_ = 0;
    int64_t slice_pages_ = INT64_MAX;  // charges left in this time slice
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
