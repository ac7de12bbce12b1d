"""What the system-call layer writes into the guest: only what it computed
or checked, and only inside the buffer the guest named. Each call that
writes guest memory runs with its buffer at many offsets and lengths inside
a page of guard bytes (and ending at an unmapped page, and in a read-only
one); a byte outside the buffer that changes, or an unexpected result,
fails. Clocks are the guest's own: a fixed supported set, CPU time counted
in guest instructions, nothing else readable. Randomness is fresh for every
request."""

import re
import time

import psutil
import pytest

from mtd import _core

from conftest import compile_guest

GUARDS = r"""
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

enum { GUARD = 0xA5 };
static unsigned char *page, *readonly;  /* page: RW, then an unmapped page; readonly: PROT_READ */
static int failures, checks;

typedef long (*call_fn)(unsigned char *dst, long n, long arg);

/* Runs fn with a destination of n bytes at page + off, all else guard
   bytes; checks the result and every byte outside [off, off + n). */
static void check(const char *what, call_fn fn, long n, long off, long arg, long expect) {
    memset(page, GUARD, 4096);
    long got = fn(page + off, n, arg);
    ++checks;
    if (got != expect) {
        printf("FAIL %s n=%ld off=%ld arg=%ld: returned %ld, expected %ld\n", what, n, off, arg, got, expect);
        ++failures;
    }
    for (long i = 0; i < 4096; ++i)
        if ((i < off || i >= off + n) && page[i] != GUARD) {
            printf("FAIL %s n=%ld off=%ld arg=%ld: wrote byte %ld outside the buffer\n", what, n, off, arg, i);
            ++failures;
            return;
        }
}

/* The same call on a read-only page: -EFAULT, nothing written. */
static void check_readonly(const char *what, call_fn fn, long n, long arg) {
    unsigned char before[4096];
    memcpy(before, readonly, 4096);
    long got = fn(readonly + 100, n, arg);
    ++checks;
    if (got != -EFAULT || memcmp(before, readonly, 4096) != 0) {
        printf("FAIL %s into a read-only page: returned %ld, %s\n", what, got,
               memcmp(before, readonly, 4096) ? "changed it" : "left it alone");
        ++failures;
    }
}

static long sys(long nr, long a, long b, long c, long d) {
    long r = syscall(nr, a, b, c, d);
    return r == -1 ? -errno : r;
}

static long c_getrandom(unsigned char *p, long n, long a) { return sys(SYS_getrandom, (long)p, n, 0, 0); }
static long c_clock_gettime(unsigned char *p, long n, long id) { return sys(SYS_clock_gettime, id, (long)p, 0, 0); }
static long c_clock_getres(unsigned char *p, long n, long id) { return sys(SYS_clock_getres, id, (long)p, 0, 0); }
static long c_gettimeofday(unsigned char *p, long n, long a) { return sys(SYS_gettimeofday, (long)p, 0, 0, 0); }
static long c_uname(unsigned char *p, long n, long a) { return sys(SYS_uname, (long)p, 0, 0, 0); }
static long c_fstat(unsigned char *p, long n, long fd) { return sys(SYS_fstat, fd, (long)p, 0, 0); }
static long c_fstatat(unsigned char *p, long n, long fd) { return sys(SYS_newfstatat, fd, (long)"", (long)p, 0x1000); }
static long c_getcwd(unsigned char *p, long n, long a) { return sys(SYS_getcwd, (long)p, n, 0, 0); }
static long c_sigaltstack(unsigned char *p, long n, long a) { return sys(SYS_sigaltstack, 0, (long)p, 0, 0); }
static long c_sigaction(unsigned char *p, long n, long sig) { return sys(SYS_rt_sigaction, sig, 0, (long)p, 8); }
static long c_sigprocmask(unsigned char *p, long n, long a) { return sys(SYS_rt_sigprocmask, SIG_BLOCK, 0, (long)p, 8); }
static long c_prlimit(unsigned char *p, long n, long res) { return sys(SYS_prlimit64, 0, res, 0, (long)p); }
static long c_getrlimit(unsigned char *p, long n, long res) { return syscall(163, res, (long)p) == -1 ? -errno : 0; }
static long c_times(unsigned char *p, long n, long a) { long r = sys(SYS_times, (long)p, 0, 0, 0); return r < 0 ? r : 0; }
static long c_getrusage(unsigned char *p, long n, long a) { return sys(SYS_getrusage, 0, (long)p, 0, 0); }
static long c_read(unsigned char *p, long n, long a) { return sys(SYS_read, 0, (long)p, n, 0); }

/* Every offset near both ends of the page, and ending at its end (the
   byte after is the unmapped page). */
static void sweep(const char *what, call_fn fn, long n, long arg, long expect) {
    for (long off = 0; off < 24 && off <= 4096 - n; ++off) check(what, fn, n, off, arg, expect);
    for (long off = 4096 - n - 24 > 0 ? 4096 - n - 24 : 0; off <= 4096 - n; ++off) check(what, fn, n, off, arg, expect);
    if (n > 0) check(what, fn, n, 4096 - n + 1, arg, -EFAULT);  /* runs into the unmapped page */
    if (n > 0) check_readonly(what, fn, n, arg);
}

int main(void) {
    page = mmap(0, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(page + 4096, 4096);
    readonly = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    memset(readonly, 0x3C, 4096);
    mprotect(readonly, 4096, PROT_READ);

    for (long n = 0; n <= 300; ++n) {
        for (long off = 0; off < 16; ++off) check("getrandom", c_getrandom, n, off, 0, n);
        check("getrandom", c_getrandom, n, 4096 - n, 0, n);
    }
    sweep("getrandom", c_getrandom, 4096, 0, 4096);
    for (long id = -16; id <= 64; ++id) {
        int ok = id >= 0 && id <= 9;  /* the supported set: every other id is -EINVAL */
        sweep("clock_gettime", c_clock_gettime, ok ? 16 : 0, id, ok ? 0 : -EINVAL);
        sweep("clock_getres", c_clock_getres, ok ? 16 : 0, id, ok ? 0 : -EINVAL);
    }
    check("clock_gettime", c_clock_gettime, 0, 0, 0x7fffffff, -EINVAL);
    check("clock_gettime", c_clock_gettime, 0, 0, (long)0x80000000u << 32, -EINVAL);
    sweep("gettimeofday", c_gettimeofday, 16, 0, 0);
    sweep("uname", c_uname, 390, 0, 0);
    for (long fd = 0; fd <= 2; ++fd) {
        sweep("fstat", c_fstat, 128, fd, 0);
        sweep("newfstatat", c_fstatat, 128, fd, 0);
    }
    check("fstat", c_fstat, 0, 0, 3, -EBADF);
    check("getcwd", c_getcwd, 0, 0, 0, -ERANGE);
    check("getcwd", c_getcwd, 1, 0, 0, -ERANGE);
    sweep("getcwd", c_getcwd, 2, 0, 2);
    sweep("sigaltstack", c_sigaltstack, 24, 0, 0);
    sweep("rt_sigaction", c_sigaction, 24, SIGUSR1, 0);
    sweep("rt_sigprocmask", c_sigprocmask, 8, 0, 0);
    for (long res = 0; res < 16; ++res) {
        sweep("prlimit64", c_prlimit, 16, res, 0);
        sweep("getrlimit", c_getrlimit, 16, res, 0);
    }
    sweep("times", c_times, 32, 0, 0);
    sweep("getrusage", c_getrusage, 144, 0, 0);
    for (long n = 1; n <= 40; ++n) check("read", c_read, n, 4096 - n, 0, n);
    check_readonly("read", c_read, 8, 0);
    printf("%d checks, %d failures\n", checks, failures);
    return failures != 0;
}
"""

# Enough stdin for every read() above (40 * 41 / 2 bytes; the read-only
# check fails before it reads).
STDIN = bytes(range(256)) * 8


@pytest.fixture(scope="module")
def guards_elf(tmp_path_factory) -> bytes:
    return compile_guest(tmp_path_factory.mktemp("guards"), "guards", GUARDS)


def test_system_calls_write_only_inside_the_guest_buffer(guards_elf):
    result = _core.run_elf(guards_elf, stdin=STDIN)
    out = result["stdout"].decode()
    assert result["outcome"] == "exited" and result["exit_code"] == 0, out[-3000:] or result["reason"]
    checks = int(re.search(r"(\d+) checks, 0 failures", out).group(1))
    assert checks > 5000


CLOCKS = r"""
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include "mtd_guest.h"

static char out[512];

int main(void) {
    unsigned char init_random[16];
    syscall(SYS_getrandom, init_random, 16, 0);
    mtd_ready();
    struct timespec real, mono, cpu, thread;
    unsigned char random[16];
    clock_gettime(CLOCK_REALTIME, &real);
    clock_gettime(CLOCK_MONOTONIC, &mono);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu);
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &thread);
    syscall(SYS_getrandom, random, 16, 0);
    int n = snprintf(out, sizeof out, "real %lld.%09ld mono %lld.%09ld cpu %lld.%09ld thread %lld.%09ld random ",
                     (long long)real.tv_sec, real.tv_nsec, (long long)mono.tv_sec, mono.tv_nsec,
                     (long long)cpu.tv_sec, cpu.tv_nsec, (long long)thread.tv_sec, thread.tv_nsec);
    for (int i = 0; i < 16; ++i) n += snprintf(out + n, sizeof out - n, "%02x", random[i]);
    n += snprintf(out + n, sizeof out - n, " init ");
    for (int i = 0; i < 16; ++i) n += snprintf(out + n, sizeof out - n, "%02x", init_random[i]);
    mtd_respond(200, "text/plain", 10, out, n);
}
"""


def parse_clocks(body: bytes) -> dict[str, str]:
    words = body.decode().split()
    return dict(zip(words[::2], words[1::2]))


@pytest.fixture(scope="module")
def clocks_program(tmp_path_factory) -> _core.Program:
    return _core.Program(compile_guest(tmp_path_factory.mktemp("clocks"), "clocks", CLOCKS))


def test_cpu_time_clocks_count_the_guests_own_instructions(clocks_program):
    """The host's CPU time would differ between two requests and between
    two Machines; the guest's own is the same for the same work."""
    first, second = (parse_clocks(_core.Machine().request(clocks_program)["body"]) for _ in range(2))
    busy = sum(i * i for i in range(200_000))  # host CPU time moves on in between
    assert busy
    third = parse_clocks(_core.Machine().request(clocks_program)["body"])
    assert first["cpu"] == second["cpu"] == third["cpu"]
    assert 0 < float(first["thread"]) - float(first["cpu"]) < 1e-6  # read a few instructions later
    assert float(first["cpu"]) < 0.1  # instructions at 1 ns: init plus a few thousand


def test_wall_and_monotonic_clocks(clocks_program):
    before_real, before_mono = time.time(), time.monotonic()
    clocks = parse_clocks(_core.Machine().request(clocks_program)["body"])
    assert before_real - 1 <= float(clocks["real"]) <= time.time() + 1
    # Monotonic time counts from this process's first reading (plus 1 s),
    # not from the host's boot: it says nothing of the host's uptime.
    alive = time.time() - psutil.Process().create_time()
    assert 1.0 <= float(clocks["mono"]) <= alive + 2.0
    later = parse_clocks(_core.Machine().request(clocks_program)["body"])
    assert float(later["mono"]) >= float(clocks["mono"])


def test_randomness_is_fresh_for_every_request(clocks_program):
    machine = _core.Machine()
    seen = [parse_clocks(machine.request(clocks_program)["body"]) for _ in range(3)]
    seen.append(parse_clocks(_core.Machine().request(clocks_program)["body"]))
    randoms = {s["random"] for s in seen}
    assert len(randoms) == 4, randoms
    # What on_init drew is in the snapshot every request forks: the same.
    assert len({s["init"] for s in seen}) == 1
    # And a fresh load draws afresh.
    assert len(randoms | {s["random"] for s in seen}) == 4


FIELDS = r"""
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include "mtd_guest.h"

enum { GUARD = 0xA5 };
static unsigned char *page;  /* RW, then an unmapped page */
static char out[8192];
static int n, failures, checks;

/* Asks for `field` with `capacity` at page + off; checks the returned
   length, the bytes copied and every guard byte around them. */
static void check(int field, size_t capacity, size_t off, const char *full, size_t len) {
    memset(page, GUARD, 4096);
    size_t got = mtd_request_field(field, (char *)page + off, capacity);
    size_t copied = capacity < len ? capacity : len;
    ++checks;
    if (got != len || memcmp(page + off, full, copied) != 0) {
        n += snprintf(out + n, sizeof out - n, "FAIL field %d cap %zu off %zu: got %zu\n", field, capacity, off, got);
        ++failures;
    }
    for (size_t i = 0; i < 4096; ++i)
        if ((i < off || i >= off + copied) && page[i] != GUARD) {
            n += snprintf(out + n, sizeof out - n, "FAIL field %d cap %zu off %zu: wrote byte %zu\n",
                          field, capacity, off, i);
            ++failures;
            return;
        }
}

int main(void) {
    page = mmap(0, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(page + 4096, 4096);
    mtd_ready();
    static char full[4096];
    for (int field = MTD_FIELD_METHOD; field <= MTD_FIELD_BODY; ++field) {
        size_t len = mtd_request_field(field, full, sizeof full);
        size_t caps[] = {0, 1, len ? len - 1 : 0, len, len + 1, len + 8, 4096 - 64};
        for (size_t c = 0; c < sizeof caps / sizeof caps[0]; ++c) {
            size_t copied = caps[c] < len ? caps[c] : len;
            for (size_t off = 0; off < 9; ++off) check(field, caps[c], off, full, len);
            check(field, caps[c], 4096 - copied, full, len);  /* ends at the page's end */
            if (copied <= 4096 - 2000) check(field, caps[c], 2000, full, len);
        }
    }
    n += snprintf(out + n, sizeof out - n, "%d checks, %d failures\n", checks, failures);
    mtd_respond(200, "text/plain", 10, out, n);
}
"""


@pytest.mark.parametrize("body_len", [0, 1, 7, 8, 9, 63, 64, 65, 1000, 3000])
def test_request_fields_are_copied_only_inside_the_guest_buffer(tmp_path_factory, body_len):
    limits = _core.Limits()
    limits.request_instructions = 500_000_000  # the guard checks are slow, not the copies
    program = _core.Program(compile_guest(tmp_path_factory.mktemp("fields"), "fields", FIELDS), limits)
    body = "".join(chr(33 + (i * 7) % 90) for i in range(body_len))
    result = _core.Machine().request(program, method="POST", path="/a/b" * (body_len % 5), query="x=1",
                                     host="fields.test", headers="host: fields.test\nx-a: " + "y" * body_len + "\n",
                                     body=body)
    assert result["outcome"] == "responded", result
    text = result["body"].decode()
    assert re.search(r"^\d+ checks, 0 failures$", text, re.M), text
