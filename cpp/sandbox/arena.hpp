// Page allocator for guest memory. A Machine keeps one for its whole life:
// reset() forgets every page in O(1) so the next request reuses the same host
// memory (no malloc/free on the request path once warm). Pages are handed out
// uninitialised; callers always overwrite all 4 KiB (copy or zero) so nothing
// leaks from one request or tenant to the next.
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
    size_t reserved_bytes() const { return chunks_.size() * chunk_bytes_; }

private:
    size_t chunk_bytes_;
    std::vector<uint8_t*> chunks_;
    size_t cur_ = 0;     // chunk being carved
    size_t off_ = 0;     // offset inside it
    void* free_ = nullptr;  // intrusive list of recycled pages
};

}  // namespace mtd::sandbox::detail
