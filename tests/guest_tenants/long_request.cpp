// Requests that outlast one time slice (cpp/sandbox/slice.hpp), for
// tests/test_slicing.py. Each answers with what it computed and how many
// instructions that took (the instret counter): both must come out the same
// however many slices the request was cut into.
//   /spin?N     FNV-1a over the numbers 0..N-1
//   /pages?N    writes one byte into each of N fresh pages, then sums them
//   /syscalls?N N getpid() system calls, each a bare ecall
//   /fields?N   reads the request's path N times
//   /headers?N  spins like /spin, then answers with the request's headers
//   /ok         answers at once
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sys/syscall.h>

#include "mtd_guest.h"

static char path[256];
static char query[64];

static uint64_t instret() {
    uint64_t n;
    __asm__ volatile("rdinstret %0" : "=r"(n));
    return n;
}

// FNV-1a over the numbers 0..n-1: work the compiler cannot skip.
static uint64_t spin(uint64_t n) {
    uint64_t value = 14695981039346656037ull;
    for (uint64_t i = 0; i < n; ++i) value = (value ^ i) * 1099511628211ull;
    return value;
}

static void answer(uint64_t value, uint64_t instructions) {
    char body[96];
    int n = std::snprintf(body, sizeof body, "%llu %llu\n", (unsigned long long)value,
                          (unsigned long long)instructions);
    mtd_respond(200, "text/plain", 10, body, n);
}

int main() {
    if (mtd_ready() != 0) return 0;
    size_t n = mtd_request_field(MTD_FIELD_PATH, path, sizeof path - 1);
    path[n < sizeof path ? n : sizeof path - 1] = '\0';
    n = mtd_request_field(MTD_FIELD_QUERY, query, sizeof query - 1);
    query[n < sizeof query ? n : sizeof query - 1] = '\0';
    const uint64_t count = std::strtoull(query, nullptr, 10);

    const uint64_t start = instret();
    uint64_t value = 0;
    if (std::strcmp(path, "/spin") == 0) {
        value = spin(count);
    } else if (std::strcmp(path, "/pages") == 0) {
        volatile char *p = static_cast<volatile char *>(std::malloc(count * 4096));
        if (!p) return 1;
        for (uint64_t i = 0; i < count; ++i) p[i * 4096] = static_cast<char>(i);
        for (uint64_t i = 0; i < count; ++i) value += static_cast<unsigned char>(p[i * 4096]);
    } else if (std::strcmp(path, "/syscalls") == 0) {
        for (uint64_t i = 0; i < count; ++i) {
            register long a0 __asm__("a0");
            register long a7 __asm__("a7") = SYS_getpid;
            __asm__ volatile("ecall" : "=r"(a0) : "r"(a7) : "memory");
            value += static_cast<uint64_t>(a0);
        }
    } else if (std::strcmp(path, "/headers") == 0) {
        static volatile uint64_t spun;
        spun = spin(count);  // a volatile store: the loop must run
        static char headers[4096];
        const size_t len = mtd_request_field(MTD_FIELD_HEADERS, headers, sizeof headers);
        mtd_respond(200, "text/plain", 10, headers, len < sizeof headers ? len : sizeof headers);
    } else if (std::strcmp(path, "/fields") == 0) {
        char buf[256];
        for (uint64_t i = 0; i < count; ++i) value += mtd_request_field(MTD_FIELD_PATH, buf, sizeof buf);
    } else if (std::strcmp(path, "/ok") != 0) {
        mtd_respond(404, "text/plain", 10, "no such path\n", 13);
    }
    answer(value, instret() - start);
}
