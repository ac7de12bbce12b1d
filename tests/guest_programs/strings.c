// The C library functions mtd runs natively (memcpy, memmove, memset,
// strlen, memcmp, strcmp): every alignment and length around word, line and
// page boundaries, overlapping moves both ways, and the exact values memcmp
// and strcmp return, which programs may print.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static uint64_t hash(const unsigned char *p, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

// Calls through volatile pointers so the compiler cannot inline or fold them.
static void *(*volatile my_memcpy)(void *, const void *, size_t) = memcpy;
static void *(*volatile my_memmove)(void *, const void *, size_t) = memmove;
static void *(*volatile my_memset)(void *, int, size_t) = memset;
static size_t (*volatile my_strlen)(const char *) = strlen;
static int (*volatile my_memcmp)(const void *, const void *, size_t) = memcmp;
static int (*volatile my_strcmp)(const char *, const char *) = strcmp;

int main(void) {
    enum { N = 3 * 4096 };
    unsigned char *buf = mmap(NULL, N + 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    static const size_t lens[] = {0, 1, 7, 8, 9, 63, 64, 65, 4095, 4096, 4097, 5000};
    static const size_t offs[] = {0, 1, 3, 8, 4090, 4096};
    uint64_t total = 0;
    for (size_t a = 0; a < sizeof offs / sizeof *offs; a++)
        for (size_t b = 0; b < sizeof offs / sizeof *offs; b++)
            for (size_t l = 0; l < sizeof lens / sizeof *lens; l++) {
                for (size_t i = 0; i < N; i++) buf[i] = (unsigned char)(i * 31 + 7);
                size_t len = lens[l];
                // memcpy's ranges must not overlap (undefined behaviour in C).
                if (offs[a] + len > N - 8000 || offs[b] + len > 8000) continue;
                my_memcpy(buf + 8000 + offs[a], buf + offs[b], len);
                total = total * 3 + hash(buf, N);
                my_memmove(buf + offs[a] + 5, buf + offs[a], len);   // overlap, destination above
                my_memmove(buf + offs[b], buf + offs[b] + 3, len);   // overlap, destination below
                my_memset(buf + offs[b], (int)(len & 0xff) | 0x100, len);  // only the low byte counts
                total = total * 3 + hash(buf, N);
            }
    printf("copies %016llx\n", (unsigned long long)total);
    unsigned char *ret = my_memcpy(buf + 1, buf + 100, 10);
    printf("memcpy returns dst: %d, memset: %d, memmove: %d\n", ret == buf + 1,
           my_memset(buf + 3, 0, 5) == buf + 3, my_memmove(buf + 7, buf + 9, 4) == buf + 7);

    // strlen: every alignment and a string ending just before a page boundary.
    for (size_t start = 0; start < 16; start++) {
        my_memset(buf, 'a', N);
        buf[4096 - 1] = 0;
        printf("%zu ", my_strlen((char *)buf + start));
        buf[start + start * 3] = 0;
        printf("%zu ", my_strlen((char *)buf + start));
    }
    printf("\n");

    // memcmp / strcmp: signs and magnitudes, bytes above 0x7f, embedded NULs.
    static const char *pairs[][2] = {
        {"abc", "abd"}, {"abd", "abc"}, {"abc", "abc"}, {"", "a"}, {"a", ""}, {"\xff", "\x01"},
        {"\x01", "\xff"}, {"abcdefghijklmnopqrstuvwxyz0", "abcdefghijklmnopqrstuvwxyz1"},
        {"prefix", "prefix-longer"}, {"caf\xc3\xa9", "cafe"},
    };
    for (size_t i = 0; i < sizeof pairs / sizeof *pairs; i++) {
        size_t n = strlen(pairs[i][0]) < strlen(pairs[i][1]) ? strlen(pairs[i][0]) + 1 : strlen(pairs[i][1]) + 1;
        printf("strcmp %d memcmp %d memcmp0 %d\n", my_strcmp(pairs[i][0], pairs[i][1]),
               my_memcmp(pairs[i][0], pairs[i][1], n), my_memcmp(pairs[i][0], pairs[i][1], 0));
    }
    // Across a page boundary, differing only on the far side.
    my_memset(buf, 'q', N);
    my_memcpy(buf + 8192, buf, 4096);
    buf[4096 + 10] = 'r';
    buf[4096 + 10 + 8192] = 0;
    printf("far: memcmp %d strcmp %d\n", my_memcmp(buf + 4000, buf + 8192 + 4000, 200),
           my_strcmp((char *)buf + 4000, (char *)buf + 8192 + 4000));

    // Reading up to the end of the mapping, right at an unmapped page.
    munmap(buf + N, 4096);
    my_memset(buf, 'z', N);
    buf[N - 1] = 0;
    printf("strlen to the edge: %zu\n", my_strlen((char *)buf + 5));
    printf("memcmp to the edge: %d\n", my_memcmp(buf + N - 100, buf + N - 200, 100));
    return 0;
}
