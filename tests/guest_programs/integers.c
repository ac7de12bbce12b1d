// Integer edge cases: division by zero and overflow follow RISC-V's rules
// (no trap), 128-bit multiply/divide, shifts, and the W (32-bit) forms.
#include <stdint.h>
#include <stdio.h>

static volatile int64_t vals[] = {0, 1, -1, 2, -2, 7, -7, INT64_MAX, INT64_MIN, 0x123456789abcdef0};
static volatile int32_t vals32[] = {0, 1, -1, 3, -3, INT32_MAX, INT32_MIN};

int main(void) {
    unsigned long long h = 1469598103934665603ull;
    int n = sizeof vals / sizeof vals[0];
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            int64_t a = vals[i], b = vals[j];
            int64_t q, r;
            uint64_t uq, ur;
            __asm__("div %0,%1,%2" : "=r"(q) : "r"(a), "r"(b));
            __asm__("rem %0,%1,%2" : "=r"(r) : "r"(a), "r"(b));
            __asm__("divu %0,%1,%2" : "=r"(uq) : "r"(a), "r"(b));
            __asm__("remu %0,%1,%2" : "=r"(ur) : "r"(a), "r"(b));
            __int128 p = (__int128)a * b;
            unsigned __int128 up = (unsigned __int128)(uint64_t)a * (uint64_t)b;
            printf("%lld %lld %llu %llu %llx:%llx %llx:%llx %lld %llu %lld\n", (long long)q,
                   (long long)r, (unsigned long long)uq, (unsigned long long)ur,
                   (unsigned long long)(p >> 64), (unsigned long long)p,
                   (unsigned long long)(up >> 64), (unsigned long long)up,
                   (long long)(a << (b & 63)), (unsigned long long)((uint64_t)a >> (b & 63)),
                   (long long)(a >> (b & 63)));
            h = (h ^ (uint64_t)(q + r + uq + ur)) * 1099511628211ull;
        }
    int m = sizeof vals32 / sizeof vals32[0];
    for (int i = 0; i < m; i++)
        for (int j = 0; j < m; j++) {
            int32_t a = vals32[i], b = vals32[j];
            int64_t q, r, s;
            __asm__("divw %0,%1,%2" : "=r"(q) : "r"(a), "r"(b));
            __asm__("remuw %0,%1,%2" : "=r"(r) : "r"(a), "r"(b));
            __asm__("sllw %0,%1,%2" : "=r"(s) : "r"(a), "r"(b));
            printf("w %lld %lld %lld\n", (long long)q, (long long)r, (long long)s);
        }
    unsigned __int128 big = ((unsigned __int128)0xfedcba9876543210ull << 64) | 0x0123456789abcdefull;
    printf("%llx %llx\n", (unsigned long long)(big / 1000000007ull), (unsigned long long)(big % 97));
    printf("hash %llx\n", h);
    return (int)(h & 0x7f);
}
