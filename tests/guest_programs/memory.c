// Heavy malloc/free (brk and mmap paths), deep recursion, large stack frames.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng = 88172645463325252ull;
static uint64_t next(void) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return rng; }

static long recurse(long n) {
    volatile char frame[256];
    frame[n % 256] = (char)n;
    return n == 0 ? 0 : recurse(n - 1) + frame[n % 256];
}

int main(void) {
    enum { SLOTS = 4096 };
    static void *slots[SLOTS];
    static size_t sizes[SLOTS];
    uint64_t sum = 0;
    for (int round = 0; round < 200000; round++) {
        int i = next() % SLOTS;
        if (slots[i]) {
            unsigned char *p = slots[i];
            sum += p[0] + p[sizes[i] - 1];
            free(p);
            slots[i] = NULL;
        } else {
            size_t size = (next() % 8 == 0) ? 1 + next() % 300000 : 1 + next() % 512;
            unsigned char *p = malloc(size);
            if (!p) { puts("malloc failed"); return 1; }
            memset(p, (int)(size & 0xff), size);
            slots[i] = p;
            sizes[i] = size;
        }
    }
    char *big = calloc(1, 32 << 20);
    big[(32 << 20) - 1] = 1;
    big = realloc(big, 48 << 20);
    printf("sum %llu big %d\n", (unsigned long long)sum, big[(32 << 20) - 1]);
    free(big);
    printf("recursion %ld\n", recurse(20000));
    return 0;
}
