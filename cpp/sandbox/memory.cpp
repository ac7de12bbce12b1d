#include "memory.hpp"

#include <sys/mman.h>

#include <algorithm>

namespace mtd::sandbox::detail {

alignas(kPageSize) const uint8_t g_zero_page[kPageSize] = {};
alignas(kPageSize) const uintptr_t g_empty_leaf[kLeafEntries] = {};

static const uintptr_t kEmptyTop = reinterpret_cast<uintptr_t>(g_empty_leaf);
static const uintptr_t kZeroPage = reinterpret_cast<uintptr_t>(g_zero_page);

Memory::Memory() {
    std::fill(std::begin(top_), std::end(top_), kEmptyTop);
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
    std::fill(std::begin(top_), std::end(top_), kEmptyTop);
    layout = Layout{};
}

void* Memory::new_page() {
    if (used_ + kPageSize > limit_) {
        oom_ = true;
        return nullptr;
    }
    void* p = arena_->alloc_page();
    if (!p) {
        oom_ = true;
        return nullptr;
    }
    used_ += kPageSize;
    return p;
}

uintptr_t* Memory::own_leaf(uint64_t a) {
    invalidate();  // the caller is about to change an entry of this leaf
    const uint64_t ti = a >> kTopShift;
    uintptr_t& t = top_[ti];
    if (!charged_[ti]) {
        // First change to this leaf in this request: charged like a copy
        // even when the copy kept from an earlier request is reused.
        if (used_ + kPageSize > limit_) {
            oom_ = true;
            return nullptr;
        }
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
        used_ += kPageSize;
        charged_[ti] = true;
        dirty_[ndirty_++] = static_cast<uint16_t>(ti);
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
        std::memcpy(page, reinterpret_cast<const void*>(e & ~kPteFlags), kPageSize);
        copied_ += kPageSize;
        e = reinterpret_cast<uintptr_t>(page) | (e & kPteFlags) | kPteOwned;
        *own = e;
    }
    return reinterpret_cast<uint8_t*>(e & ~kPteFlags) + (a & kPageMask);
}

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
        uint8_t* p = write_ptr(a);
        if (!p) return false;
        uint64_t chunk = std::min<uint64_t>(n, kPageSize - (a & kPageMask));
        std::memcpy(p, in, chunk);
        in += chunk;
        a += chunk;
        n -= chunk;
    }
    return true;
}

bool Memory::fill_bytes(uint64_t a, uint8_t byte, uint64_t n) {
    while (n) {
        uint8_t* p = write_ptr(a);
        if (!p) return false;
        uint64_t chunk = std::min<uint64_t>(n, kPageSize - (a & kPageMask));
        std::memset(p, byte, chunk);
        a += chunk;
        n -= chunk;
    }
    return true;
}

void Memory::drop_entry(uintptr_t& e) {
    if ((e & kPteOwned) && arena_) {
        arena_->free_page(reinterpret_cast<void*>(e & ~kPteFlags));
        used_ -= kPageSize;
    }
    e = 0;
}

bool Memory::map_anon(uint64_t a, uint64_t len, uintptr_t prot) {
    if (prot & kPteW) prot |= kPteR;
    for (uint64_t p = a; p < a + len; p += kPageSize) {
        uintptr_t* own = own_entry(p);
        if (!own) return false;
        uintptr_t& e = *own;
        drop_entry(e);
        e = kZeroPage | (prot & (kPteR | kPteW | kPteX)) | kPteMapped;
    }
    return true;
}

void Memory::unmap(uint64_t a, uint64_t len) {
    for (uint64_t p = a; p < a + len; p += kPageSize) {
        const uintptr_t* leaf = reinterpret_cast<const uintptr_t*>(top_[p >> kTopShift] & ~kPteFlags);
        if (leaf == g_empty_leaf) {  // whole leaf absent: skip to the next one
            p = ((p >> kTopShift) + 1) << kTopShift;
            p -= kPageSize;
            continue;
        }
        if (!leaf[(p >> kPageBits) & (kLeafEntries - 1)]) continue;
        uintptr_t* own = own_entry(p);
        if (!own) return;  // out of memory for the leaf copy: leave it mapped
        drop_entry(*own);
    }
}

bool Memory::protect(uint64_t a, uint64_t len, uintptr_t prot) {
    if (!is_mapped(a, len)) return false;
    if (prot & kPteW) prot |= kPteR;
    for (uint64_t p = a; p < a + len; p += kPageSize) {
        uintptr_t* own = own_entry(p);
        if (!own) return false;
        uintptr_t& e = *own;
        e = (e & ~uintptr_t(kPteR | kPteW | kPteX)) | (prot & (kPteR | kPteW | kPteX));
    }
    return true;
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
    uintptr_t* own = own_entry(a);
    if (!own) return nullptr;
    uintptr_t& e = *own;
    if (!(e & kPteOwned)) {
        void* page = new_page();
        if (!page) return nullptr;
        std::memset(page, 0, kPageSize);
        e = reinterpret_cast<uintptr_t>(page) | kPteOwned | kPteMapped;
    }
    if (prot & kPteW) prot |= kPteR;
    e |= prot & (kPteR | kPteW | kPteX);
    return reinterpret_cast<uint8_t*>(e & ~kPteFlags);
}

bool Memory::map_shared(uint64_t a, const uint8_t* page, uintptr_t prot) {
    uintptr_t* own = own_entry(a);
    if (!own) return false;
    drop_entry(*own);
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

void Memory::trim_sealed() {
    // Whole pages inside changed_ only; private anonymous memory (heap or
    // mmap) reads as zeros again after MADV_DONTNEED.
    const uintptr_t lo = page_up(reinterpret_cast<uintptr_t>(changed_));
    const uintptr_t hi = page_down(reinterpret_cast<uintptr_t>(changed_) + sizeof changed_);
    if (hi > lo) madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_DONTNEED);
}

void Memory::fork_from(const Memory& master, bool same_master) {
    invalidate();
    // Leaves the previous request changed: put back the entries it changed
    // (pages it copied or mapped go back to the arena with its reset below).
    // Every kept leaf then equals the master's again.
    for (uint32_t k = 0; k < ndirty_; ++k) {
        const uint16_t ti = dirty_[k];
        charged_[ti] = false;
        uint64_t* bits = changed_[ti];
        if (same_master) {
            auto* leaf = reinterpret_cast<uintptr_t*>(top_[ti] & ~kPteFlags);
            const auto* from = reinterpret_cast<const uintptr_t*>(master.top_[ti] & ~kPteFlags);
            for (uint64_t w = 0; w < kLeafEntries / 64; ++w) {
                for (uint64_t b = bits[w]; b; b &= b - 1) {
                    const uint64_t i = w * 64 + static_cast<uint64_t>(__builtin_ctzll(b));
                    leaf[i] = from[i];
                }
                bits[w] = 0;
            }
        } else {
            std::fill(bits, bits + kLeafEntries / 64, 0);
        }
    }
    if (!same_master) {
        // Another master: its leaves are not ours to keep.
        std::memcpy(top_, master.top_, sizeof top_);
        if (leaf_arena_ != arena_) leaf_arena_->reset();
    }
    ndirty_ = 0;
    used_ = 0;
    copied_ = 0;
    oom_ = false;
    layout = master.layout;
    arena_->reset();
}

}  // namespace mtd::sandbox::detail
