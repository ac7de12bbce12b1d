"""The translated tier is the interpreter, faster: the same requests on a
Program interpreted and on one translated (the code those requests run,
profiled, compiled and attached) must end the same way, at the same
instruction, with the same answer, whatever the budget and the time
slices. The programs are the ones the security tests attack the
interpreter with: long blocks and every way to enter them (test_budget),
every register and CSR a request can dirty (test_request_isolation), the
request fields copied into guard bytes (test_syscall_writes) and the page
edges (test_memory_access, which also runs on both tiers itself)."""

import pytest

from mtd import _core

import test_budget
import test_request_isolation
import test_syscall_writes
from conftest import compile_guest
from tiers import in_tier

# A shorter straight-line block than test_budget's 100,000 instructions:
# the same shapes, and a translation the host compiler makes in seconds.
SHAPES = test_budget.PROGRAM.replace(".rept 100000", ".rept 3000").replace(".rept 50000", ".rept 1500")

# Calls through a pointer the request chooses: translated code looks the
# target up among its labels and must leave every other address (0, odd,
# data, unmapped, the top of the address space) to the host, which faults
# exactly as the interpreter does. A null pointer once crashed the server.
JUMPS = r"""
#include <stdlib.h>
#include <string.h>
#include "mtd_guest.h"

static char data[64] = "not code";
static long answer(long x) { return x * 2 + 1; }

int main(void) {
    mtd_ready();
    char path[64] = {0};
    mtd_request_field(MTD_FIELD_PATH, path, sizeof path - 1);
    unsigned long target = strtoul(path + 6, 0, 16);
    if (strcmp(path, "/jump/answer") == 0) target = (unsigned long)answer;
    if (strcmp(path, "/jump/answer+2") == 0) target = (unsigned long)answer + 2;
    if (strcmp(path, "/jump/data") == 0) target = (unsigned long)data;
    long r = ((long (*)(long))target)(20);
    char body[32];
    int n = 0;
    for (unsigned long v = (unsigned long)r; n < 20; v /= 10) { body[n++] = (char)('0' + v % 10); if (!v) break; }
    mtd_respond(200, "text/plain", 10, body, n);
}
"""

# Two decodings of the same bytes: `loop` is a lui whose upper half is a
# c.addi, and /overlap/1 also jumps into that half. In slot order the c.addi
# sits between the lui and the instruction after it, so translated code
# must run on from the lui by slot, never into the next one written; the
# sd and ld runs after it take one check for four accesses.
OVERLAP = r"""
#include "mtd_guest.h"
long overlap(long enter_mid);
__asm__(".text\n.globl overlap\noverlap:\n"
        "  addi sp, sp, -32\n  li a5, 7\n  li t0, 0\n  mv t1, a0\n  li a0, 0\n"
        "  bnez t1, mid\n"
        "loop:\n  .word 0x050505B7\n"           /* lui a1, 0x5050; upper half: c.addi a0, 1 */
        "  addi t0, t0, 1\n"
        "  sd a0, 0(sp)\n  sd a1, 8(sp)\n  sd t0, 16(sp)\n  sd a5, 24(sp)\n"
        "  li t2, 5\n  blt t0, t2, loop\n"
        "  ld a0, 0(sp)\n  ld a1, 8(sp)\n  ld t0, 16(sp)\n  ld a5, 24(sp)\n"
        "  add a0, a0, a1\n  add a0, a0, t0\n  add a0, a0, a5\n  addi sp, sp, 32\n  ret\n"
        "mid:\n  li a0, 100\n  li t1, 0\n  j loop + 2\n");

int main(void) {
    mtd_ready();
    char path[32] = {0};
    mtd_request_field(MTD_FIELD_PATH, path, sizeof path - 1);
    unsigned long r = (unsigned long)overlap(path[9] == '1');
    char body[24];
    int n = 0;
    do { body[n++] = (char)('0' + r % 10); r /= 10; } while (r && n < 24);
    mtd_respond(200, "text/plain", 10, body, n);
}
"""

CASES = {
    "overlap": (OVERLAP, ["/overlap/0", "/overlap/1", "/overlap/0", "/overlap/1"]),
    "jumps": (JUMPS, ["/jump/answer", "/jump/0", "/jump/1", "/jump/answer+2", "/jump/data", "/jump/10000",
                      "/jump/deadbeef000", "/jump/fffffffffffffffe", "/jump/answer"]),
    "shapes": (SHAPES, [f"/straight", "/straight-rvc", "/branches", "/enter/0", "/enter/127", "/enter/300",
                        "/pairs/0", "/pairs/1", "/fault/1000", "/fault/1129", "/fault/1255"]),
    "state": (test_request_isolation.STATE, ["/report", "/dirty/7", "/report", "/dirty/1048581", "/report"]),
    "fields": (test_syscall_writes.FIELDS, ["/a", "/abcdefghi"]),
}


def limits(budget: int) -> _core.Limits:
    l = _core.Limits()
    l.request_instructions = budget
    return l


def programs(elf: bytes, paths, cache_dir, budget: int):
    interpreted = _core.Program(elf, limits(budget))
    translated = in_tier(_core.Program(elf, limits(budget)), "translated", cache_dir, paths)
    return interpreted, translated


SAME = ["outcome", "reason", "instructions", "slices", "memory", "status", "content_type", "body"]


def compare(interpreted, translated, paths, **request):
    a, b = _core.Machine(), _core.Machine()
    ran_translated = 0
    for path in paths:
        x = a.request(interpreted, path=path, **request)
        y = b.request(translated, path=path, **request)
        for key in SAME:
            assert x.get(key) == y.get(key), (path, key, x.get(key), y.get(key))
        assert x["translated"] == 0
        ran_translated += y["translated"]
    assert ran_translated > 0


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("budget", [500, 2_777, 2_000_000_000])
def test_both_tiers_end_every_request_alike(tmp_path, cache_dir, name, budget):
    source, paths = CASES[name]
    elf = compile_guest(tmp_path, name, source)
    interpreted, translated = programs(elf, paths, cache_dir, budget)
    compare(interpreted, translated, paths)
    body = "x" * 3000
    compare(interpreted, translated, paths, method="POST", body=body, headers="x-a: " + body + "\n")


@pytest.mark.parametrize("slice_instructions", [1, 97, 1000])
def test_both_tiers_slice_alike(tmp_path, cache_dir, slice_instructions):
    source, paths = CASES["shapes"]
    elf = compile_guest(tmp_path, "shapes", source)
    interpreted, translated = programs(elf, paths, cache_dir, 2_000_000_000)
    compare(interpreted, translated, paths, slice_instructions=slice_instructions)
