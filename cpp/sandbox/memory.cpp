#include "memory.hpp"

#include <sys/mman.h>

#include <algorithm>

#include "common/hot_path.hpp"

namespace mtd::sandbox::detail {

alignas(kPageSize) const uint8_t g_zero_page[kPageSize] = {};
alignas(kPageSize) const uintptr_t g_empty_leaf[kLeafEntries] = {};

static const uintptr_t kEmptyTop = reinterpret_cast<uintptr_t>(g_empty_leaf);
static const uintptr_t kZeroPage = reinterpret_cast<uintptr_t>(g_zero_page);

Memory::Memory() {
    std::fill(std::begin(top_), std::end(top_), kEmptyTop);
}

Memory::~Memory() {
    if (copies_) munmap(copies_, (kSpaceSize >> kPageBits) * sizeof(PageCopy));
}

bool Memory::keep_copies() {
    if (copies_) return true;
    // One entry per guest page: only the entries of pages a request writes
    // are ever touched, so the reservation costs next to no memory.
    void* p = mmap(nullptr, (kSpaceSize >> kPageBits) * sizeof(PageCopy), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) return false;
    copies_ = static_cast<PageCopy*>(p);
    touched_.resize(kMaxTouched);
    return true;
}

void Memory::attach(Arena* arena, uint64_t limit_bytes, Arena* leaf_arena) {
    invalidate();
    for (uint32_t i = 0; i < ndirty_; ++i) {
        charged_[dirty_[i]] = false;
        std::fill(std::begin(changed_[dirty_[i]]), std::end(changed_[dirty_[i]]), 0);
    }
    arena_ = arena;
    leaf_arena_ = leaf_arena ? leaf_arena : arena;
    limit_ = limit_bytes;
    used_ = 0;
    copied_ = 0;
    oom_ = false;
    ndirty_ = 0;
    ntouched_ = 0;
    touched_overflow_ = false;
    ++gen_;
    std::fill(std::begin(top_), std::end(top_), kEmptyTop);
    std::fill(std::begin(in_use_), std::end(in_use_), 0);
    layout = Layout{};
}

void* Memory::new_page() {
    if (!charge_page()) return nullptr;
    void* p = arena_->alloc_page();
    if (!p) {
        used_ -= kPageSize;
        oom_ = true;
    }
    return p;
}

MTD_HOT_PATH
void Memory::note_touched(uint64_t a) {
    if (ntouched_ < kMaxTouched)
        touched_[ntouched_++] = static_cast<uint32_t>(a >> kPageBits);
    else
        touched_overflow_ = true;
}

MTD_HOT_PATH
bool Memory::charge_leaf(uint64_t ti) {
    // First change to this leaf in this request: charged like a copy even
    // when the copy kept from an earlier request is reused.
    if (charged_[ti]) return true;
    if (!charge_page()) return false;
    charged_[ti] = true;
    dirty_[ndirty_++] = static_cast<uint16_t>(ti);
    return true;
}

MTD_HOT_PATH
bool Memory::touch(uint64_t a) {
    PageCopy& copy = copies_[a >> kPageBits];
    if (copy.gen == gen_) return true;
    // Kept from an earlier request: charged as if copied now, leaf included.
    if (!charge_leaf(a >> kTopShift) || !charge_page()) return false;
    copy.gen = gen_;
    note_touched(a);
    return true;
}

uintptr_t* Memory::own_leaf(uint64_t a) {
    invalidate_page(a);  // the caller is about to change a's entry
    const uint64_t ti = a >> kTopShift;
    if (!charge_leaf(ti)) return nullptr;
    uintptr_t& t = top_[ti];
    if (!(t & kPteOwned)) {
        auto* leaf = static_cast<uintptr_t*>(leaf_arena_->alloc_page());
        if (!leaf) {
            oom_ = true;
            return nullptr;
        }
        std::memcpy(leaf, reinterpret_cast<const void*>(t & ~kPteFlags), kPageSize);
        copied_ += kPageSize;
        t = reinterpret_cast<uintptr_t>(leaf) | kPteOwned;
    }
    return reinterpret_cast<uintptr_t*>(t & ~kPteFlags);
}

uintptr_t* Memory::own_entry(uint64_t a) {
    uintptr_t* leaf = own_leaf(a);
    if (!leaf) return nullptr;
    const uint64_t i = (a >> kPageBits) & (kLeafEntries - 1);
    changed_[a >> kTopShift][i >> 6] |= 1ull << (i & 63);
    return &leaf[i];
}

uint8_t* Memory::write_slow(uint64_t a) {
    if (a >> kSpaceBits) return nullptr;
    const uintptr_t* leaf = reinterpret_cast<const uintptr_t*>(top_[a >> kTopShift] & ~kPteFlags);
    uintptr_t e = leaf[(a >> kPageBits) & (kLeafEntries - 1)];
    if (!(e & kPteW)) return nullptr;
    if (!(e & kPteOwned)) {
        // Copy on write: the page is the master's (or the zero page).
        uintptr_t* own = own_entry(a);
        if (!own) return nullptr;
        void* page = new_page();
        if (!page) return nullptr;
        const auto* source = reinterpret_cast<const uint8_t*>(e & ~kPteFlags);
        std::memcpy(page, source, kPageSize);
        copied_ += kPageSize;
        e = reinterpret_cast<uintptr_t>(page) | (e & kPteFlags) | kPteOwned;
        *own = e;
        if (copies_) {
            copies_[a >> kPageBits] = PageCopy{source, static_cast<uint8_t*>(page), 0, gen_};
            ++page_copies_;
            note_touched(a);
        }
    }
    return reinterpret_cast<uint8_t*>(e & ~kPteFlags) + (a & kPageMask);
}

MTD_HOT_PATH
bool Memory::read_bytes(uint64_t a, void* dst, uint64_t n) const {
    auto* out = static_cast<uint8_t*>(dst);
    while (n) {
        const uint8_t* p = read_ptr(a);
        if (!p) return false;
        uint64_t chunk = std::min<uint64_t>(n, kPageSize - (a & kPageMask));
        std::memcpy(out, p, chunk);
        out += chunk;
        a += chunk;
        n -= chunk;
    }
    return true;
}

bool Memory::write_bytes(uint64_t a, const void* src, uint64_t n) {
    // Check the whole range first so a faulting store changes nothing.
    for (uint64_t p = page_down(a); n && p < a + n; p += kPageSize) {
        if (p >> kSpaceBits) return false;
        const uintptr_t* leaf = reinterpret_cast<const uintptr_t*>(top_[p >> kTopShift] & ~kPteFlags);
        if (!(leaf[(p >> kPageBits) & (kLeafEntries - 1)] & kPteW)) return false;
    }
    auto* in = static_cast<const uint8_t*>(src);
    while (n) {
        const uint64_t chunk = std::min<uint64_t>(n, kPageSize - (a & kPageMask));
        uint8_t* p = write_ptr(a, chunk);
        if (!p) return false;
        std::memcpy(p, in, chunk);
        in += chunk;
        a += chunk;
        n -= chunk;
    }
    return true;
}

void Memory::drop_entry(uint64_t a, uintptr_t& e) {
    if ((e & kPteOwned) && arena_) {
        arena_->free_page(reinterpret_cast<void*>(e & ~kPteFlags));
        // A kept page this request has not written was never charged.
        if (!copies_ || copies_[a >> kPageBits].gen == gen_) used_ -= kPageSize;
    }
    e = 0;
}

// Calls fn(entry, page address) for every page of [a, a + len), owning
// each leaf once and marking its part of the range changed in one go, so a
// page costs only fn: a 64 MiB mmap is 16,384 pages, and per-page leaf
// bookkeeping made it ~0.35 ms, longer than a time slice. With
// skip_unmapped, leaves with no entry in the range are left alone (not
// copied, not charged). False if a leaf copy hit the memory limit; the
// leaves before it are done.
template <class Fn>
bool Memory::each_entry(uint64_t a, uint64_t len, bool skip_unmapped, Fn fn) {
    invalidate();  // entries change in bulk: forget every cached translation
    remapped_ = true;
    const uint64_t end = a + len;
    while (a < end) {
        const uint64_t ti = a >> kTopShift;
        const uint64_t leaf_end = std::min(end, (ti + 1) << kTopShift);
        const uint64_t lo = (a >> kPageBits) & (kLeafEntries - 1);
        const uint64_t hi = lo + ((leaf_end - a) >> kPageBits);
        if (skip_unmapped) {
            const auto* leaf = reinterpret_cast<const uintptr_t*>(top_[ti] & ~kPteFlags);
            bool any = false;
            for (uint64_t i = lo; i < hi && !any; ++i) any = leaf[i] != 0;
            if (!any) {
                a = leaf_end;
                continue;
            }
        }
        uintptr_t* leaf = own_leaf(a);
        if (!leaf) return false;
        mark_changed(ti, lo, hi);
        int64_t in_use = in_use_[ti];
        for (uint64_t i = lo; i < hi; ++i) {
            in_use -= leaf[i] != 0;
            fn(leaf[i], a + ((i - lo) << kPageBits));
            in_use += leaf[i] != 0;
        }
        in_use_[ti] = static_cast<uint16_t>(in_use);
        a = leaf_end;
    }
    return true;
}

void Memory::mark_changed(uint64_t ti, uint64_t lo, uint64_t hi) {
    while (lo < hi) {
        const uint64_t bit = lo & 63, n = std::min<uint64_t>(64 - bit, hi - lo);
        changed_[ti][lo >> 6] |= (~0ull >> (64 - n)) << bit;
        lo += n;
    }
}

bool Memory::map_anon(uint64_t a, uint64_t len, uintptr_t prot) {
    if (prot & kPteW) prot |= kPteR;
    const uintptr_t zero = kZeroPage | (prot & (kPteR | kPteW | kPteX)) | kPteMapped;
    return each_entry(a, len, false, [&](uintptr_t& e, uint64_t p) {
        if (e & kPteOwned) drop_entry(p, e);
        e = zero;
    });
}

void Memory::unmap(uint64_t a, uint64_t len) {
    // Out of memory for a leaf copy: the rest stays mapped.
    each_entry(a, len, true, [&](uintptr_t& e, uint64_t p) {
        if (e & kPteOwned) drop_entry(p, e);
        e = 0;
    });
}

bool Memory::protect(uint64_t a, uint64_t len, uintptr_t prot) {
    if (!is_mapped(a, len)) return false;
    if (prot & kPteW) prot |= kPteR;
    const uintptr_t bits = prot & (kPteR | kPteW | kPteX);
    return each_entry(a, len, false, [&](uintptr_t& e, uint64_t) { e = (e & ~uintptr_t(kPteR | kPteW | kPteX)) | bits; });
}

bool Memory::is_free(uint64_t a, uint64_t len) const {
    for (uint64_t p = a; p < a + len; p += kPageSize) {
        const uintptr_t* leaf = reinterpret_cast<const uintptr_t*>(top_[p >> kTopShift] & ~kPteFlags);
        if (leaf[(p >> kPageBits) & (kLeafEntries - 1)]) return false;
    }
    return true;
}

bool Memory::is_mapped(uint64_t a, uint64_t len) const {
    for (uint64_t p = a; p < a + len; p += kPageSize) {
        const uintptr_t* leaf = reinterpret_cast<const uintptr_t*>(top_[p >> kTopShift] & ~kPteFlags);
        if (!(leaf[(p >> kPageBits) & (kLeafEntries - 1)] & kPteMapped)) return false;
    }
    return true;
}

uint64_t Memory::find_free(uint64_t len, uint64_t lo, uint64_t hi, uint64_t hint) const {
    // First fit from the hint, wrapping once; absent leaves are skipped whole.
    auto scan = [&](uint64_t from, uint64_t to) -> uint64_t {
        uint64_t run_start = from, run = 0;
        for (uint64_t p = from; p < to;) {
            const uintptr_t* leaf =
                reinterpret_cast<const uintptr_t*>(top_[p >> kTopShift] & ~kPteFlags);
            if (leaf == g_empty_leaf && (p & ((1ull << kTopShift) - 1)) == 0) {
                if (run == 0) run_start = p;
                run += 1ull << kTopShift;
                p += 1ull << kTopShift;
            } else if (in_use_[p >> kTopShift] == kLeafEntries) {  // no free page in the leaf
                run = 0;
                p = ((p >> kTopShift) + 1) << kTopShift;
            } else if (!leaf[(p >> kPageBits) & (kLeafEntries - 1)]) {
                if (run == 0) run_start = p;
                run += kPageSize;
                p += kPageSize;
            } else {
                run = 0;
                p += kPageSize;
            }
            if (run >= len && run_start + len <= to) return run_start;
        }
        return 0;
    };
    if (hint < lo || hint >= hi) hint = lo;
    if (uint64_t r = scan(hint, hi)) return r;
    return scan(lo, std::min(hi, hint + len));
}

uint8_t* Memory::populate(uint64_t a, uintptr_t prot) {
    remapped_ = true;
    uintptr_t* own = own_entry(a);
    if (!own) return nullptr;
    uintptr_t& e = *own;
    const bool was_free = e == 0;
    if (!(e & kPteOwned)) {
        void* page = new_page();
        if (!page) return nullptr;
        std::memset(page, 0, kPageSize);
        e = reinterpret_cast<uintptr_t>(page) | kPteOwned | kPteMapped;
    }
    if (prot & kPteW) prot |= kPteR;
    e |= prot & (kPteR | kPteW | kPteX);
    in_use_[a >> kTopShift] += was_free;
    return reinterpret_cast<uint8_t*>(e & ~kPteFlags);
}

bool Memory::map_shared(uint64_t a, const uint8_t* page, uintptr_t prot) {
    remapped_ = true;
    uintptr_t* own = own_entry(a);
    if (!own) return false;
    in_use_[a >> kTopShift] += *own == 0;
    drop_entry(a, *own);
    if (prot & kPteW) prot |= kPteR;
    *own = reinterpret_cast<uintptr_t>(page) | (prot & (kPteR | kPteW | kPteX)) | kPteMapped;
    return true;
}

bool Memory::write_bytes_loader(uint64_t a, const void* src, uint64_t n) {
    auto* in = static_cast<const uint8_t*>(src);
    while (n) {
        if (a >> kSpaceBits) return false;
        const uintptr_t* leaf = reinterpret_cast<const uintptr_t*>(top_[a >> kTopShift] & ~kPteFlags);
        const uintptr_t e = leaf[(a >> kPageBits) & (kLeafEntries - 1)];
        if (!(e & kPteOwned)) return false;
        const uint64_t chunk = std::min<uint64_t>(n, kPageSize - (a & kPageMask));
        std::memcpy(reinterpret_cast<uint8_t*>(e & ~kPteFlags) + (a & kPageMask), in, chunk);
        in += chunk;
        a += chunk;
        n -= chunk;
    }
    return true;
}

void Memory::seal() {
    invalidate();
    for (uint32_t i = 0; i < ndirty_; ++i) {
        charged_[dirty_[i]] = false;
        std::fill(std::begin(changed_[dirty_[i]]), std::end(changed_[dirty_[i]]), 0);
    }
    for (uintptr_t& t : top_) {
        if (!(t & kPteOwned)) continue;
        auto* leaf = reinterpret_cast<uintptr_t*>(t & ~kPteFlags);
        for (uint64_t i = 0; i < kLeafEntries; ++i) leaf[i] &= ~uintptr_t(kPteOwned);
        t &= ~uintptr_t(kPteOwned);
    }
    ndirty_ = 0;
    arena_ = leaf_arena_ = nullptr;  // the master never allocates again
    limit_ = 0;
}

MTD_HOT_PATH
void Memory::restore_copies(const Memory& master) {
    constexpr uintptr_t kSame = kPteR | kPteW | kPteX | kPteMapped;
    for (uint64_t k = 0; k < ntouched_; ++k) {
        const uint64_t vpn = touched_[k], ti = vpn >> kLeafBits, i = vpn & (kLeafEntries - 1);
        PageCopy& copy = copies_[vpn];
        // Still our copy of the master's page, mapped as the master maps it
        // (not unmapped, remapped or mprotected since)? Without a mapping
        // change it must be: at the fork every entry equalled the master's,
        // and a write only turns one into an owned copy with the same
        // protection. Only then are the page tables read (cold lines a
        // steady-state request would otherwise touch for every page).
        if (remapped_) {
            const uintptr_t e = reinterpret_cast<const uintptr_t*>(top_[ti] & ~kPteFlags)[i];
            const uintptr_t from = reinterpret_cast<const uintptr_t*>(master.top_[ti] & ~kPteFlags)[i];
            if (!(e & kPteOwned) || copy.page != reinterpret_cast<uint8_t*>(e & ~kPteFlags) ||
                copy.source != reinterpret_cast<const uint8_t*>(from & ~kPteFlags) ||
                (e & kSame) != (from & kSame))
                continue;
        }
        // Put back the lines written: it equals the master's page again.
        for (uint64_t b = copy.lines; b; b &= b - 1) {
            const uint64_t off = static_cast<uint64_t>(__builtin_ctzll(b)) << kLineBits;
            std::memcpy(copy.page + off, copy.source + off, 1u << kLineBits);
        }
        copy.lines = 0;
        changed_[ti][i >> 6] &= ~(1ull << (i & 63));  // keep the entry
    }
}

void Memory::forget_page_copies() {
    // Private anonymous: reads as zeros again (gen 0: charged by no request).
    madvise(copies_, (kSpaceSize >> kPageBits) * sizeof(PageCopy), MADV_DONTNEED);
    page_copies_ = 0;
}

void Memory::release() {
    invalidate();
    if (leaf_arena_ != arena_) {
        leaf_arena_->reset();
        leaf_arena_->trim(0);
    }
    arena_->reset();
    arena_->trim(0);
    if (copies_ && page_copies_) forget_page_copies();
    // Kept leaves and pages are gone: the next fork must start afresh.
    touched_overflow_ = true;
}

void Memory::trim_sealed() {
    // Whole pages inside changed_ only; private anonymous memory (heap or
    // mmap) reads as zeros again after MADV_DONTNEED.
    const uintptr_t lo = page_up(reinterpret_cast<uintptr_t>(changed_));
    const uintptr_t hi = page_down(reinterpret_cast<uintptr_t>(changed_) + sizeof changed_);
    if (hi > lo) madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_DONTNEED);
}

MTD_HOT_PATH
void Memory::fork_from(const Memory& master, bool same_master) {
    // A fork of the same master reuses what the last one left: leaves (and
    // with keep_copies(), pages) that equal the master's again once the
    // last request's changes are undone. Too many changes, or more kept
    // than is worth keeping: start afresh, and give the excess back.
    const uint64_t keep = std::min(limit_, kMaxKeptBytes);
    const bool reuse = same_master && !touched_overflow_ && page_copies_ <= kMaxPageCopies &&
                       arena_->carved_bytes() + (leaf_arena_ != arena_ ? leaf_arena_->carved_bytes() : 0) <= keep;
    // Translations stay valid where the entry does not change, which spares
    // each request a page walk (code and page-table lines) per page it
    // touches; a write one needs its page charged again (WriteSlot::gen).
    // Without kept copies every written page goes back to the master's.
    if (!reuse) invalidate_reads();
    if (!reuse || !copies_) invalidate_writes();
    if (reuse && copies_) restore_copies(master);
    // Leaves the previous request changed: put back the entries it changed,
    // releasing pages it copied or mapped there. Every kept leaf then equals
    // the master's again, except for the entries of kept pages.
    for (uint32_t k = 0; k < ndirty_; ++k) {
        const uint16_t ti = dirty_[k];
        charged_[ti] = false;
        uint64_t* bits = changed_[ti];
        if (reuse) {
            // Usually nothing: restore_copies kept every written page. The
            // page tables are read only for entries to put back.
            uint64_t any = 0;
            for (uint64_t w = 0; w < kLeafEntries / 64; ++w) any |= bits[w];
            if (!any) continue;
            auto* leaf = reinterpret_cast<uintptr_t*>(top_[ti] & ~kPteFlags);
            const auto* from = reinterpret_cast<const uintptr_t*>(master.top_[ti] & ~kPteFlags);
            for (uint64_t w = 0; w < kLeafEntries / 64; ++w) {
                for (uint64_t b = bits[w]; b; b &= b - 1) {
                    const uint64_t i = w * 64 + static_cast<uint64_t>(__builtin_ctzll(b));
                    invalidate_page(((uint64_t{ti} << kLeafBits) | i) << kPageBits);
                    if (leaf[i] & kPteOwned) arena_->free_page(reinterpret_cast<void*>(leaf[i] & ~kPteFlags));
                    leaf[i] = from[i];
                }
                bits[w] = 0;
            }
            in_use_[ti] = master.in_use_[ti];  // every entry is the master's again
        } else {
            std::fill(bits, bits + kLeafEntries / 64, 0);
        }
    }
    if (!reuse) {
        // Another master, or too much kept: nothing of the last fork stays.
        std::memcpy(top_, master.top_, sizeof top_);
        std::memcpy(in_use_, master.in_use_, sizeof in_use_);
        if (leaf_arena_ != arena_) {
            leaf_arena_->reset();
            leaf_arena_->trim(keep);
        }
        arena_->reset();
        arena_->trim(keep);
        if (page_copies_ > kMaxPageCopies) forget_page_copies();
    } else if (!copies_) {
        arena_->reset();
    }
    ndirty_ = 0;
    ntouched_ = 0;
    touched_overflow_ = false;
    remapped_ = false;
    ++gen_;
    used_ = 0;
    copied_ = 0;
    oom_ = false;
    layout = master.layout;
}

}  // namespace mtd::sandbox::detail
