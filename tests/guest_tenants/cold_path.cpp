// A tenant whose "/cold" request runs code that neither start-up nor the
// load's warm-up request ("/") ran, so its first executions decode the text
// (lazily, possibly in several worker threads at once). It answers what it
// computed and how many instructions that took, read from the guest's own
// instret counter: both must be the same in every request, whichever
// thread decoded what. Run as a plain process, it prints the same line.
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "mtd_guest.h"

static unsigned long instret() {
    unsigned long n;
    __asm__ volatile("rdinstret %0" : "=r"(n));
    return n;
}

static int compare(const void *a, const void *b) {
    return *static_cast<const int *>(a) - *static_cast<const int *>(b);
}

static unsigned crc32(const char *s, size_t n) {
    unsigned c = ~0u;
    for (size_t i = 0; i < n; ++i) {
        c ^= static_cast<unsigned char>(s[i]);
        for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
    }
    return ~c;
}

// Library code a hello request never needs: sorting, float formatting and
// parsing, string search.
static int cold(char *out, size_t cap) {
    const unsigned long start = instret();
    int v[200];
    for (int i = 0; i < 200; ++i) v[i] = (i * 7919) % 1009;
    std::qsort(v, 200, sizeof v[0], compare);
    char text[256];
    int n = std::snprintf(text, sizeof text, "%.9g %e %d %d", 3.14159265358979 * v[17], 1e-7 * v[150], v[0],
                          v[199]);
    const double back = std::strtod(text, nullptr);
    const char *found = std::strstr(text, "e-");
    const unsigned crc = crc32(text, static_cast<size_t>(n));
    const unsigned long used = instret() - start;
    return std::snprintf(out, cap, "%s|%.3f|%d|%08x|%lu\n", text, back, found ? int(found - text) : -1, crc,
                         used);
}

int main() {
    char body[512];
    if (mtd_ready() != 0) {  // a plain process: print the answer
        cold(body, sizeof body);
        std::fputs(body, stdout);
        return 0;
    }
    char path[64];
    size_t n = mtd_request_field(MTD_FIELD_PATH, path, sizeof path - 1);
    path[n < sizeof path ? n : sizeof path - 1] = '\0';
    if (std::strcmp(path, "/cold") == 0) {
        const int len = cold(body, sizeof body);
        mtd_respond(200, "text/plain", 10, body, static_cast<size_t>(len));
    }
    std::puts("serving /");  // the tenant's log shows real requests only
    std::fflush(stdout);
    mtd_respond(200, "text/plain", 10, "warm\n", 5);
}
