// Page allocator for guest memory. A Machine keeps one for its whole life:
// reset() forgets every page in O(1) so the next request reuses the same host
// memory (no malloc/free on the request path once warm), and trim() gives
// back to the kernel what a big request left beyond what is worth keeping.
// Pages are handed out uninitialised; callers always overwrite all 4 KiB
// (copy or zero) so nothing leaks from one request or tenant to the next.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace mtd::sandbox::detail {

class Arena {
public:
    explicit Arena(size_t chunk_bytes = 4u << 20);
    ~Arena();
    Arena(const Arena&) = delete;
    Arena& operator=(const Arena&) = delete;

    void* alloc_page();        // nullptr only if the host is out of memory
    void free_page(void* p);   // recycled by the next alloc_page()
    void reset();              // every page is free again; chunks are kept
    // After reset(): host memory past the first keep_bytes (a page
    // multiple) goes back to the kernel, unless nothing was ever carved
    // there. Chunks past it are unmapped, the one it ends in is cut back.
    void trim(size_t keep_bytes);
    size_t reserved_bytes() const { return chunks_.size() * chunk_bytes_; }
    // Bytes handed out since the last reset() (freed pages included).
    size_t carved_bytes() const { return cur_ * chunk_bytes_ + off_; }

private:
    size_t chunk_bytes_;
    std::vector<uint8_t*> chunks_;
    size_t cur_ = 0;     // chunk being carved
    size_t off_ = 0;     // offset inside it
    size_t high_water_ = 0;  // most bytes carved since the last trim(): what may hold memory
    void* free_ = nullptr;  // intrusive list of recycled pages
};

}  // namespace mtd::sandbox::detail
