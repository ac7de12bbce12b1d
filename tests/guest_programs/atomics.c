// The A extension: LR/SC loops and every AMO, 32- and 64-bit.
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

int main(void) {
    _Atomic int64_t d = 5;
    _Atomic int32_t w = -5;
    _Atomic uint64_t u = 0xf0f0;
    printf("%lld ", (long long)atomic_fetch_add(&d, 10));
    printf("%lld ", (long long)atomic_fetch_sub(&d, 3));
    printf("%lld ", (long long)atomic_fetch_and(&d, 6));
    printf("%lld ", (long long)atomic_fetch_or(&d, 0x100));
    printf("%lld ", (long long)atomic_fetch_xor(&d, 0xff));
    printf("%lld ", (long long)atomic_exchange(&d, -1));
    int64_t expected = -1;
    printf("%d ", atomic_compare_exchange_strong(&d, &expected, 42));
    expected = 7;
    printf("%d %lld ", atomic_compare_exchange_strong(&d, &expected, 43), (long long)expected);
    printf("%d ", atomic_fetch_add(&w, 1));
    printf("%d ", atomic_exchange(&w, 123));
    int32_t e32 = 123;
    printf("%d %d\n", atomic_compare_exchange_weak(&w, &e32, 9), (int)atomic_load(&w));
    int64_t mn = 10, mx = 10;
    uint64_t umx = 10;
    __asm__ volatile("amomin.d %0, %2, (%1)" : "=r"(mn) : "r"(&d), "r"((int64_t)-3) : "memory");
    __asm__ volatile("amomax.d %0, %2, (%1)" : "=r"(mx) : "r"(&d), "r"((int64_t)100) : "memory");
    __asm__ volatile("amomaxu.d %0, %2, (%1)" : "=r"(umx) : "r"(&u), "r"((uint64_t)-1) : "memory");
    printf("%lld %lld %llx %lld %llx\n", (long long)mn, (long long)mx, (unsigned long long)umx,
           (long long)atomic_load(&d), (unsigned long long)atomic_load(&u));
    return 0;
}
