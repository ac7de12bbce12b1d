"""Every guest load and store is checked at the byte: at each page edge,
with each access width and alignment, against each protection the next
page can have. An access is allowed exactly when every byte it touches is
in a page that allows it, and then reads or writes exactly those bytes; any
other access faults. The same holds for what the builtins (memcpy) and the
system calls (write) read on the guest's behalf."""

import itertools

import pytest

from mtd import _core

from conftest import compile_guest
from tiers import TIERS, in_tier

PAGE = 4096
PROTS = {"unmapped": None, "none": 0, "read": 1, "write": 2, "rw": 3, "exec": 4}

PROBE = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "mtd_guest.h"

/* Three pages: the first RW, the second as the request asks, the third
   never mapped. Pattern byte i of the area: (i * 7 + 3) & 0xff. */
static unsigned char *area;
static char path[64], out[128];

static unsigned long load(int width, unsigned char *p) {
    unsigned long v = 0;
    switch (width) {
        case 1: __asm__ volatile("lbu %0, 0(%1)" : "=r"(v) : "r"(p) : "memory"); break;
        case 2: __asm__ volatile("lhu %0, 0(%1)" : "=r"(v) : "r"(p) : "memory"); break;
        case 4: __asm__ volatile("lwu %0, 0(%1)" : "=r"(v) : "r"(p) : "memory"); break;
        case 8: __asm__ volatile("ld %0, 0(%1)" : "=r"(v) : "r"(p) : "memory"); break;
    }
    return v;
}

static void store(int width, unsigned char *p, unsigned long v) {
    switch (width) {
        case 1: __asm__ volatile("sb %0, 0(%1)" : : "r"(v), "r"(p) : "memory"); break;
        case 2: __asm__ volatile("sh %0, 0(%1)" : : "r"(v), "r"(p) : "memory"); break;
        case 4: __asm__ volatile("sw %0, 0(%1)" : : "r"(v), "r"(p) : "memory"); break;
        case 8: __asm__ volatile("sd %0, 0(%1)" : : "r"(v), "r"(p) : "memory"); break;
    }
}

int main(void) {
    area = mmap(0, 3 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    for (int i = 0; i < 2 * 4096; ++i) area[i] = (unsigned char)(i * 7 + 3);
    munmap(area + 2 * 4096, 4096);
    mtd_ready();
    size_t n = mtd_request_field(MTD_FIELD_PATH, path, sizeof path - 1);
    path[n < sizeof path - 1 ? n : sizeof path - 1] = 0;
    char op[16];
    int width, prot;
    long off;
    if (sscanf(path, "/%15[a-z]/%d/%ld/%d", op, &width, &off, &prot) != 4) mtd_respond(400, "text/plain", 10, "?", 1);
    if (prot < 0) munmap(area + 4096, 4096);
    else mprotect(area + 4096, 4096, prot);
    int len = 0;
    if (!strcmp(op, "load")) {
        len = snprintf(out, sizeof out, "%lx", load(width, area + off));
    } else if (!strcmp(op, "store")) {
        store(width, area + off, 0x1122334455667788ul);
        /* What the store changed: the 16 bytes around it, as page 0 sees them. */
        for (long i = off - 8; i < off + 8 && i < 4096; ++i) len += snprintf(out + len, sizeof out - len, "%02x", area[i]);
    } else if (!strcmp(op, "memcpy")) {
        static unsigned char dst[64];
        memcpy(dst, area + off, width);
        for (int i = 0; i < width; ++i) len += snprintf(out + len, sizeof out - len, "%02x", dst[i]);
    } else if (!strcmp(op, "write")) {
        len = snprintf(out, sizeof out, "%ld", (long)write(1, area + off, width));
    }
    mtd_respond(200, "text/plain", 10, out, len);
}
"""


@pytest.fixture(scope="module", params=TIERS)
def probe(request, tmp_path_factory, cache_dir):
    """The probe, interpreted or translated (its load, store, memcpy and
    write paths): translated code reaches memory only as the interpreter
    does, through the same checks."""
    program = _core.Program(compile_guest(tmp_path_factory.mktemp("access"), "probe", PROBE))
    paths = [f"/{op}/{w}/{PAGE - 4}/3" for op in ("load", "store") for w in (1, 2, 4, 8)]
    paths += [f"/load/8/{PAGE + 4}/0", f"/store/8/{PAGE - 1}/1", "/memcpy/16/100/3", "/write/16/100/3"]
    return in_tier(program, request.param, cache_dir, paths), _core.Machine()


def pattern(i: int) -> int:
    return (i * 7 + 3) & 0xFF


def allowed(page: int, prot, write: bool) -> bool:
    if page == 0:
        return True
    if page >= 2 or prot is None:
        return False
    # PROT_WRITE implies read, as on Linux; PROT_EXEC alone is not readable.
    return bool(prot & 2) if write else bool(prot & 3)


def ask(probe, op, width, offset, prot):
    program, machine = probe
    code = -1 if prot is None else prot
    result = machine.request(program, path=f"/{op}/{width}/{offset}/{code}")
    assert not program.translated or result["translated"] > 0  # the access ran translated
    return result


EDGE = range(PAGE - 12, PAGE + 4)  # every offset around the end of the first page


@pytest.mark.parametrize("prot_name", PROTS)
@pytest.mark.parametrize("width", [1, 2, 4, 8])
def test_loads_at_a_page_edge(probe, width, prot_name):
    prot = PROTS[prot_name]
    for offset in itertools.chain(EDGE, range(2 * PAGE - 12, 2 * PAGE + 4)):
        touched = range(offset, offset + width)
        result = ask(probe, "load", width, offset, prot)
        if all(allowed(i // PAGE, prot, write=False) for i in touched):
            expected = sum(pattern(i) << (8 * k) for k, i in enumerate(touched))
            assert result.get("body") == b"%x" % expected, (offset, result)
        else:
            assert result["outcome"] == "fault" and "load access fault" in result["reason"], (offset, result)


@pytest.mark.parametrize("prot_name", PROTS)
@pytest.mark.parametrize("width", [1, 2, 4, 8])
def test_stores_at_a_page_edge(probe, width, prot_name):
    prot = PROTS[prot_name]
    value = (0x1122334455667788).to_bytes(8, "little")[:width]
    for offset in EDGE:
        touched = range(offset, offset + width)
        result = ask(probe, "store", width, offset, prot)
        if all(allowed(i // PAGE, prot, write=True) for i in touched):
            around = bytes.fromhex(result["body"].decode())
            expected = bytes(value[i - offset] if i in touched else pattern(i)
                             for i in range(offset - 8, min(offset + 8, PAGE)))
            assert around == expected, (offset, result)
        else:
            assert result["outcome"] == "fault" and "store access fault" in result["reason"], (offset, result)


@pytest.mark.parametrize("prot_name", PROTS)
def test_builtins_and_system_calls_read_only_readable_bytes(probe, prot_name):
    """memcpy runs as host code (natives.cpp) and write() copies for the
    guest: both see exactly what a load would."""
    prot = PROTS[prot_name]
    for offset in (PAGE - 16, PAGE - 15, PAGE - 1, PAGE):
        readable = all(allowed(i // PAGE, prot, write=False) for i in range(offset, offset + 16))
        copied = ask(probe, "memcpy", 16, offset, prot)
        written = ask(probe, "write", 16, offset, prot)
        if readable:
            assert copied["body"] == bytes(pattern(i) for i in range(offset, offset + 16)).hex().encode()
            assert written["body"] == b"16"
        else:
            assert copied["outcome"] == "fault" and "load access fault" in copied["reason"], copied
            assert written["body"] == b"-1"  # EFAULT: glibc's write() returns -1
