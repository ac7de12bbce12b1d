// A tenant that misbehaves on request: the path picks the attack. Used by
// the tests (tests/test_limits.py) to trip every limit and fault path of the
// sandbox, and by tests/benchmarks/bench_neighbour.py as the attacker.
#include <sys/mman.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include "mtd_guest.h"

static char path[256];
static char query[4096];

static bool is(const char *p) { return std::strcmp(path, p) == 0; }

static void ok(const char *body) { mtd_respond(200, "text/plain", 10, body, std::strlen(body)); }

static char reply[8192];

// Uses every page of [p, p + n): one store per page is what makes the host
// back it (and stays far inside the instruction budget, unlike a memset).
static void touch(void *p, size_t n) {
    for (size_t i = 0; i < n; i += 4096) static_cast<volatile char *>(p)[i] = 1;
}

static long raw_syscall(long nr, long a0, long a1 = 0, long a2 = 0, long a3 = 0, long a4 = 0, long a5 = 0) {
    register long r0 __asm__("a0") = a0;
    register long r1 __asm__("a1") = a1;
    register long r2 __asm__("a2") = a2;
    register long r3 __asm__("a3") = a3;
    register long r4 __asm__("a4") = a4;
    register long r5 __asm__("a5") = a5;
    register long r7 __asm__("a7") = nr;
    __asm__ volatile("ecall" : "+r"(r0) : "r"(r1), "r"(r2), "r"(r3), "r"(r4), "r"(r5), "r"(r7) : "memory");
    return r0;
}

// Not a tail call and a frame the compiler cannot drop: each level really
// takes ~1 KiB of stack, until the stack runs out.
static __attribute__((noinline)) long recurse(long depth) {
    volatile char frame[1024];
    frame[0] = static_cast<char>(depth);
    frame[sizeof frame - 1] = static_cast<char>(depth);
    return recurse(depth + 1) + frame[0] + frame[sizeof frame - 1];
}

// 64 bytes at `addr`, hex-encoded: what a guest sees at an address it
// guessed (e.g. one a neighbour tenant showed).
static void peek(uint64_t addr) {
    const volatile unsigned char *p = reinterpret_cast<const volatile unsigned char *>(addr);
    int n = 0;
    for (int i = 0; i < 64; ++i) n += std::snprintf(reply + n, sizeof reply - n, "%02x", p[i]);
    reply[n++] = '\n';
    mtd_respond(200, "text/plain", 10, reply, n);
}

// Every system call number in a sweep except the ones listed in the request
// body, or the query if there is no body (the host's supported set, e.g.
// "17,25,29"): each must answer -ENOSYS and touch
// nothing: not the buffer all six arguments point at, not the argument
// registers. Answers how many were tried and every one that misbehaved.
static void unsupported_syscalls() {
    static char body[8192];
    size_t n = mtd_request_field(MTD_FIELD_BODY, body, sizeof body - 1);
    body[n < sizeof body ? n : sizeof body - 1] = '\0';
    if (!body[0]) std::strcpy(body, query);
    static bool supported[512];
    for (char *p = body; *p;) {
        char *end;
        long nr = std::strtol(p, &end, 10);
        if (end == p) break;
        if (nr >= 0 && nr < 512) supported[nr] = true;
        p = *end ? end + 1 : end;
    }
    // Compared after every call: 64 words keep the sweep well inside the
    // instruction budget.
    static uint64_t canary[64];
    auto pattern = [](size_t k) { return 0x9e3779b97f4a7c15ull * (k + 1); };
    for (size_t k = 0; k < 64; ++k) canary[k] = pattern(k);
    // 0..511 covers every Linux riscv64 system call; then unknown tenant-ABI
    // numbers next to ours and numbers no kernel has.
    static const unsigned long extra[] = {0x4D03, 0x4D04, 0x4DFF, 0x4CFF, 1024, 0x7fffffff,
                                          0x8000000000000000ul, ~0ul};
    int tried = 0, bad = 0, len = 0;
    const long arg = reinterpret_cast<long>(canary);
    for (unsigned i = 0; i < 512 + sizeof extra / sizeof extra[0]; ++i) {
        const unsigned long nr = i < 512 ? i : extra[i - 512];
        if (nr < 512 && supported[nr]) continue;
        ++tried;
        register long r0 __asm__("a0") = arg;
        register long r1 __asm__("a1") = arg;
        register long r2 __asm__("a2") = arg;
        register long r3 __asm__("a3") = arg;
        register long r4 __asm__("a4") = arg;
        register long r5 __asm__("a5") = arg;
        register long r7 __asm__("a7") = static_cast<long>(nr);
        __asm__ volatile("ecall" : "+r"(r0), "+r"(r1), "+r"(r2), "+r"(r3), "+r"(r4), "+r"(r5), "+r"(r7)
                         : : "memory");
        bool intact = true;
        for (size_t k = 0; k < 64; ++k)
            if (canary[k] != pattern(k)) intact = false;
        const bool regs = r1 == arg && r2 == arg && r3 == arg && r4 == arg && r5 == arg &&
                          r7 == static_cast<long>(nr);
        if (r0 != -38 || !intact || !regs) {
            ++bad;
            len += std::snprintf(reply + len, sizeof reply - len - 64, " %lu:%ld%s%s", nr, r0,
                                 intact ? "" : ":memory", regs ? "" : ":registers");
            for (size_t k = 0; k < 64; ++k) canary[k] = pattern(k);
        }
    }
    char head[64];
    int h = std::snprintf(head, sizeof head, "tried %d misbehaved %d", tried, bad);
    std::memmove(reply + h, reply, len);
    std::memcpy(reply, head, h);
    reply[h + len] = '\n';
    mtd_respond(200, "text/plain", 10, reply, h + len + 1);
}

// One straight-line block of a million instructions (2 MiB of code), and a
// loop that keeps entering it: the shape that once ran millions of
// instructions past the budget and the time slice.
extern "C" void long_block();
__asm__(".text\n.globl long_block\nlong_block:\n.rept 1000000\nc.addi t1, 1\n.endr\nret\n");

// 8 MiB of pages no earlier request wrote, somewhere in a 256 MiB region:
// the shape that once made a worker keep every page any request copied.
static char *grow_region;
static void grow_pages() {
    unsigned long window = 0;
    raw_syscall(278, reinterpret_cast<long>(&window), sizeof window, 0);  // getrandom
    char *base = grow_region + (window % 31) * (8ul << 20);
    touch(base, 8ul << 20);
    ok("grew\n");
}

int main() {
    // Untouched: zero pages until written, costing nothing but page tables.
    grow_region = static_cast<char *>(mmap(nullptr, 256ul << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    if (mtd_ready() != 0) return 0;  // nothing to attack outside mtd
    size_t n = mtd_request_field(MTD_FIELD_PATH, path, sizeof path - 1);
    path[n < sizeof path ? n : sizeof path - 1] = '\0';
    n = mtd_request_field(MTD_FIELD_QUERY, query, sizeof query - 1);
    query[n < sizeof query ? n : sizeof query - 1] = '\0';
    const uint64_t addr = std::strtoull(query, nullptr, 16);

    if (is("/ok")) ok("fine\n");
    if (is("/loop")) for (volatile int i = 0;; i = i + 1) {}
    if (is("/long-block")) for (;;) long_block();
    if (is("/page-grower")) grow_pages();
    if (is("/recursion")) std::exit(static_cast<int>(recurse(0)));
    if (is("/malloc")) for (;;) { char *p = (char *)std::malloc(1 << 20); if (!p) ok("malloc gave up\n"); touch(p, 1 << 20); }
    if (is("/brk")) {
        // The raw system call, growing the heap 1 MiB at a time and using it.
        for (long end = raw_syscall(214, 0);; end += 1 << 20) {
            if (raw_syscall(214, end + (1 << 20)) != end + (1 << 20)) ok("brk gave up\n");
            touch(reinterpret_cast<void *>(end), 1 << 20);
        }
    }
    if (is("/mmap")) {
        for (;;) {
            long p = raw_syscall(222, 0, 1 << 20, 3, 0x22, -1, 0);  // PROT_READ|WRITE, MAP_PRIVATE|ANONYMOUS
            if (p < 0) ok("mmap gave up\n");
            touch(reinterpret_cast<void *>(p), 1 << 20);
        }
    }
    if (is("/mmap-reserve")) {
        // Address space without touching it: runs out of addresses, not of
        // host memory. Answers how much it got.
        unsigned long total = 0;
        long p, calls = 0;
        while ((p = raw_syscall(222, 0, 64l << 20, 3, 0x22, -1, 0)) > 0) total += 64ul << 20, ++calls;
        int len = std::snprintf(reply, sizeof reply, "mapped %lu MiB in %ld calls, then %ld\n", total >> 20, calls, p);
        mtd_respond(200, "text/plain", 10, reply, len);
    }
    if (is("/null")) return *(volatile int *)nullptr;
    if (is("/null-write")) { *(volatile int *)nullptr = 1; ok("wrote null\n"); }
    if (is("/wild")) return *(volatile int *)0xdead0000beefull;
    if (is("/high-read")) return *(volatile int *)0xffffffff80000000ull;
    if (is("/high-write")) { *(volatile uint64_t *)0x8000000000000000ull = 1; ok("wrote high\n"); }
    if (is("/unmapped-write")) { *(volatile int *)0xe8000000ull = 1; ok("wrote unmapped\n"); }
    if (is("/peek")) peek(addr);
    if (is("/poke")) {
        std::memcpy(reinterpret_cast<void *>(addr), "PWNED by hostile", 17);
        peek(addr);
    }
    if (is("/write-code")) { *(volatile uint32_t *)(void *)&main = 0; ok("wrote code\n"); }
    if (is("/jump-data")) { static uint32_t data[4] = {0x00000013}; ((void (*)())(void *)data)(); }
    if (is("/exec-mmap")) {
        // Code of its own in a page mapped read/write/execute: "li a0, 42; ret".
        long p = raw_syscall(222, 0, 4096, 7, 0x22, -1, 0);
        if (p < 0) ok("mmap failed\n");
        static const uint32_t code[] = {0x02a00513, 0x00008067};
        std::memcpy(reinterpret_cast<void *>(p), code, sizeof code);
        int len = std::snprintf(reply, sizeof reply, "ran %ld\n", reinterpret_cast<long (*)()>(p)());
        mtd_respond(200, "text/plain", 10, reply, len);
    }
    if (is("/mprotect-code")) {
        // Make its own code writable: refused; nothing else changes.
        long page = reinterpret_cast<long>(&main) & ~4095l;
        long r = raw_syscall(226, page, 4096, 7);
        long u = raw_syscall(215, page, 4096);
        int len = std::snprintf(reply, sizeof reply, "mprotect %ld munmap %ld\n", r, u);
        mtd_respond(200, "text/plain", 10, reply, len);
    }
    if (is("/illegal")) __asm__ volatile(".word 0xffffffff");
    if (is("/big")) { static char big[4 << 20]; std::memset(big, 'x', sizeof big); mtd_respond(200, "text/plain", 10, big, sizeof big); }
    if (is("/bad-pointer")) mtd_respond(200, "text/plain", 10, (const char *)0x10, 100);
    if (is("/high-pointer")) mtd_respond(200, "text/plain", 10, (const char *)0xffffffff00000000ull, 100);
    if (is("/exit")) std::exit(3);
    if (is("/abort")) std::abort();
    if (is("/throw")) throw std::runtime_error("escaped the handler");
    if (is("/syscalls")) unsupported_syscalls();
    if (is("/print-flood")) for (;;) std::fputs("flood flood flood flood flood flood flood flood\n", stderr);
    mtd_respond(404, "text/plain", 10, "no such attack\n", 15);
}
