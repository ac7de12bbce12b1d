// Isolation between requests of one tenant. Every request first checks that
// the memory prepared by init (data, bss, heap, an mmap'd region, and the
// stack below the ready frame) is exactly as init left it, then scribbles
// over all of it through every path a guest has for writing memory: stores
// of each width (aligned, misaligned, across lines and pages), atomics,
// LR/SC, FP stores, the native builtins (memcpy/memmove/memset), the
// request_field ecall, system calls that fill buffers, and munmap/mmap/
// mprotect over parts of the region. Answers "clean" or what was dirty.
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>

#include "mtd_guest.h"

namespace {

constexpr size_t kSize = 3 * 4096 + 100;  // straddles pages at every alignment

unsigned char data_region[kSize] = {1};  // .data: initialised below
unsigned char bss_region[kSize];         // .bss: stays zero at init
unsigned char* heap_region;
unsigned char* mmap_region;
uint64_t expected[5];

uint64_t fnv(const unsigned char* p, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

void fill_pattern(unsigned char* p, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; ++i) p[i] = static_cast<unsigned char>(i * 7 + seed);
}

template <class T>
void store_at(unsigned char* p, size_t off, T v) {
    *reinterpret_cast<volatile T*>(p + off) = v;  // misaligned offsets are deliberate
}

void scribble(unsigned char* p) {
    for (size_t off : {0ul, 63ul, 64ul, 4095ul, 4096ul, 8190ul, kSize - 8}) {
        store_at<uint8_t>(p, off, 0xa5);
        store_at<uint16_t>(p, off + 1, 0xbeef);
        store_at<uint32_t>(p, off + 3, 0xdeadbeef);
        store_at<uint64_t>(p, off, 0x0123456789abcdefull);
    }
    store_at<float>(p, 128, 1.5f);
    store_at<double>(p, 4088, 2.5);  // FP store ending at a page boundary
    __atomic_fetch_add(reinterpret_cast<uint32_t*>(p + 256), 5u, __ATOMIC_SEQ_CST);
    __atomic_fetch_or(reinterpret_cast<uint64_t*>(p + 4096 + 512), 0xffull, __ATOMIC_SEQ_CST);
    uint64_t expect = *reinterpret_cast<uint64_t*>(p + 1024);
    __atomic_compare_exchange_n(reinterpret_cast<uint64_t*>(p + 1024), &expect, 42ull, false,
                                __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
    std::memset(p + 10, 0xee, 5000);
    std::memcpy(p + 6000, p + 10, 3000);
    std::memmove(p + 20, p + 10, 8000);  // overlapping, destination above
    std::memmove(p + 10, p + 30, 8000);  // overlapping, destination below
    mtd_request_field(MTD_FIELD_HEADERS, reinterpret_cast<char*>(p) + 4090, 200);
    getrandom(p + 2000, 300, 0);
    clock_gettime(CLOCK_REALTIME, reinterpret_cast<struct timespec*>(p + 8192));
}

// Init fills this frame's bytes right before mtd_ready(); each request
// calls it from the same place in main, so at the same stack address, and
// finds them as init left them, then scribbles over them.
__attribute__((noinline)) bool stack_probe(bool fill) {
    unsigned char probe[kSize];
    __asm__ volatile("" : : "r"(probe) : "memory");
    if (fill) {
        fill_pattern(probe, kSize, 4);
        __asm__ volatile("" : : "r"(probe) : "memory");
        return true;
    }
    const bool clean = fnv(probe, kSize) == expected[4];
    scribble(probe);
    __asm__ volatile("" : : "r"(probe) : "memory");
    return clean;
}

const char* check() {
    static const char* names[] = {"data", "bss", "heap", "mmap"};
    const unsigned char* regions[] = {data_region, bss_region, heap_region, mmap_region};
    for (int i = 0; i < 4; ++i)
        if (fnv(regions[i], kSize) != expected[i]) return names[i];
    return nullptr;
}

}  // namespace

int main() {
    fill_pattern(data_region, kSize, 1);
    heap_region = static_cast<unsigned char*>(std::malloc(kSize));
    fill_pattern(heap_region, kSize, 2);
    mmap_region = static_cast<unsigned char*>(
        mmap(nullptr, 4 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    fill_pattern(mmap_region, kSize, 3);
    const unsigned char* regions[] = {data_region, bss_region, heap_region, mmap_region};
    for (int i = 0; i < 4; ++i) expected[i] = fnv(regions[i], kSize);
    {
        static unsigned char pattern[kSize];
        fill_pattern(pattern, kSize, 4);
        expected[4] = fnv(pattern, kSize);
    }
    stack_probe(true);
    if (mtd_ready() != 0) return 0;
    const bool stack_clean = stack_probe(false);

    const char* dirty = stack_clean ? check() : "stack";
    unsigned char* targets[] = {data_region, bss_region, heap_region, mmap_region};
    for (unsigned char* p : targets) scribble(p);
    // Page-table changes over kept pages: unmap, map fresh, write, protect.
    munmap(mmap_region + 4096, 4096);
    mmap(mmap_region + 4096, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    mmap_region[4096 + 7] = 9;
    mprotect(mmap_region + 2 * 4096, 4096, PROT_READ);
    mprotect(mmap_region + 2 * 4096, 4096, PROT_READ | PROT_WRITE);
    mmap_region[2 * 4096 + 9] = 9;
    mprotect(data_region + 4096 - (reinterpret_cast<uintptr_t>(data_region) & 4095), 4096, PROT_READ);

    char body[64];
    int n = std::snprintf(body, sizeof body, "%s\n", dirty ? dirty : "clean");
    mtd_respond(200, "text/plain", 10, body, n);
}
