// Writes a different set of pages on every request: the shape that once
// made a worker's Machine keep every page any request had copied, growing
// the server without bound (tests/test_memory_retention.py). /grow/K/N/S
// writes one byte in each of N pages, S pages apart, in window K of a
// 1 GiB region mapped at init (zero pages until written).
#include <sys/mman.h>

#include <cstdio>

#include "mtd_guest.h"

static constexpr unsigned long kRegionPages = (1ul << 30) / 4096;
static char *region;
static char path[128], out[64];

int main() {
    region = static_cast<char *>(mmap(nullptr, kRegionPages * 4096, PROT_READ | PROT_WRITE,
                                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    mtd_ready();
    const size_t n = mtd_request_field(MTD_FIELD_PATH, path, sizeof path - 1);
    path[n < sizeof path - 1 ? n : sizeof path - 1] = 0;
    unsigned long window = 0, pages = 0, stride = 1;
    std::sscanf(path, "/grow/%lu/%lu/%lu", &window, &pages, &stride);
    const unsigned long span = pages * stride;
    if (region == MAP_FAILED || stride == 0 || span == 0 || span > kRegionPages)
        mtd_respond(400, "text/plain", 10, "bad path\n", 9);
    char *base = region + (window * span) % (kRegionPages - span + 1) * 4096;
    for (unsigned long i = 0; i < pages; ++i) base[i * stride * 4096] = 1;
    const int len = std::snprintf(out, sizeof out, "wrote %lu pages\n", pages);
    mtd_respond(200, "text/plain", 10, out, len);
}
