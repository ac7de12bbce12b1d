#include "arena.hpp"

#include <sys/mman.h>

#include <algorithm>

#include "layout.hpp"

namespace mtd::sandbox::detail {

Arena::Arena(size_t chunk_bytes) : chunk_bytes_(chunk_bytes) {}

Arena::~Arena() {
    for (uint8_t* c : chunks_) munmap(c, chunk_bytes_);
}

void* Arena::alloc_page() {
    if (free_) {
        void* p = free_;
        free_ = *static_cast<void**>(p);
        return p;
    }
    if (cur_ < chunks_.size() && off_ + kPageSize > chunk_bytes_) {
        ++cur_;
        off_ = 0;
    }
    if (cur_ == chunks_.size()) {
        // Growth past the high-water mark: the only host allocation, and it
        // happens once per Machine per size reached, not per request.
        void* c = mmap(nullptr, chunk_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                       -1, 0);
        if (c == MAP_FAILED) return nullptr;
        chunks_.push_back(static_cast<uint8_t*>(c));
        off_ = 0;
    }
    void* p = chunks_[cur_] + off_;
    off_ += kPageSize;
    return p;
}

void Arena::free_page(void* p) {
    *static_cast<void**>(p) = free_;
    free_ = p;
}

void Arena::reset() {
    high_water_ = std::max(high_water_, carved_bytes());
    cur_ = 0;
    off_ = 0;
    free_ = nullptr;
}

void Arena::trim(size_t keep_bytes) {
    if (high_water_ <= keep_bytes) return;  // nothing carved past it: no system call
    const size_t keep_chunks = (keep_bytes + chunk_bytes_ - 1) / chunk_bytes_;
    while (chunks_.size() > keep_chunks) {
        munmap(chunks_.back(), chunk_bytes_);
        chunks_.pop_back();
    }
    const size_t tail = keep_bytes % chunk_bytes_;
    if (tail && keep_chunks == chunks_.size())  // private anonymous: reads as zeros again
        madvise(chunks_.back() + tail, chunk_bytes_ - tail, MADV_DONTNEED);
    high_water_ = keep_bytes;
}

}  // namespace mtd::sandbox::detail
