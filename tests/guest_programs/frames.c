// Prologues and epilogues at every stack alignment: the register saves and
// restores the interpreter runs as one access when they share a page, and
// one by one when a frame straddles a page boundary; register moves; NaN
// results of every arithmetic kind (canonicalised).
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

// Many values live across the recursive call (through a pointer, so the
// compiler cannot turn it into a loop): saves and restores s0-s11.
static long many(long n);
static long (*volatile many_p)(long) = many;
__attribute__((noinline)) static long many(long n) {
    if (n <= 0) return 1;
    long a = n * 3, b = n ^ 5, c = n + 7, d = n * n, e = n - 11, f = n << 2;
    long g = n >> 1, h = n | 9, i = n & 6, j = n * 13, k = ~n;
    long r = many_p(n - 1);
    return r + a + b * 2 + c * 3 + d * 5 + e * 7 + f * 11 + g * 13 + h * 17 + i * 19 + j * 23 + k * 29;
}

__attribute__((noinline)) static long shuffle(long a, long b, long c, long d) {
    return a * 1000 + b * 100 + c * 10 + d;
}

__attribute__((noinline)) static long at_depth(int bytes) {
    volatile char* pad = __builtin_alloca(bytes + 1);  // moves sp by 16-byte steps
    pad[0] = (char)bytes;
    return many(6) + shuffle(bytes, 2, 3, 4) + shuffle(4, 3, 2, bytes) + pad[0];
}

static uint64_t bits_d(double v) { uint64_t b; memcpy(&b, &v, 8); return b; }
static uint32_t bits_f(float v) { uint32_t b; memcpy(&b, &v, 4); return b; }

int main(void) {
    long sum = 0;
    for (int bytes = 0; bytes <= 4096 + 256; bytes += 8) sum += at_depth(bytes);
    printf("frames %ld\n", sum);

    volatile double zero = 0.0, inf = INFINITY, neg = -1.0;
    uint64_t payload = 0x7ff4000000000123ull;  // signalling, with a payload
    double snan;
    memcpy(&snan, &payload, 8);
    volatile double vs = snan;
    printf("d %016llx %016llx %016llx %016llx %016llx %016llx\n",
           (unsigned long long)bits_d(zero / zero), (unsigned long long)bits_d(inf - inf),
           (unsigned long long)bits_d(sqrt(neg)), (unsigned long long)bits_d(vs * 2.0),
           (unsigned long long)bits_d(fma(vs, 1.0, 0.0)), (unsigned long long)bits_d(1.5 * 2.0));
    volatile float fz = 0.0f, finf = INFINITY, fneg = -1.0f;
    printf("f %08x %08x %08x %08x %08x\n", bits_f(fz / fz), bits_f(finf - finf), bits_f(sqrtf(fneg)),
           bits_f((float)vs), bits_f(1.5f * 2.0f));
    return 0;
}
