"""The instruction budget and the time slice hold whatever the code's shape:
a run of code never goes more than kMaxSegment - 1 (127) instructions past
either, however long its straight-line blocks are and however it enters
them (a jump, a branch taken or not). And the count stays exact: the guest
reads the same instret, and a fault reports the same count, wherever the
interpreter cuts a long block into segments (cpp/sandbox/decoder.hpp)."""

import pytest

from mtd import _core

from conftest import compile_guest

MAX_OVERSHOOT = 127  # kMaxSegment - 1

PROGRAM = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include "mtd_guest.h"

void straight(void);         /* 100,000 addi (4 bytes each) in one block, then ret */
void straight_rvc(void);     /* the same in 2-byte c.addi */
void branches(void);         /* 50,000 x (a branch never taken, one addi) */
void entry_block(void);      /* 400 addi, then ret: entered anywhere by /enter/K */
void instret_pairs(unsigned long *out);          /* 200 x (rdinstret, sd) */
void instret_pairs_shifted(unsigned long *out);  /* the same, one instruction later */
void load_run(const char *base);                 /* ld at base + 0, 8, ..., 2040 */

__asm__(
    ".text\n.option push\n.option norvc\n"
    ".globl straight\nstraight:\n.rept 100000\naddi t1, t1, 1\n.endr\nret\n"
    ".globl branches\nbranches:\n.rept 50000\nbne zero, zero, 1f\naddi t1, t1, 1\n1:\n.endr\nret\n"
    ".globl entry_block\nentry_block:\n.rept 400\naddi t1, t1, 1\n.endr\nret\n"
    ".globl instret_pairs\ninstret_pairs:\n.set i, 0\n.rept 200\nrdinstret t0\nsd t0, i(a0)\n.set i, i + 8\n.endr\nret\n"
    ".globl instret_pairs_shifted\ninstret_pairs_shifted:\n.set i, 0\n.rept 200\nrdinstret t0\nsd t0, i(a0)\n"
    ".set i, i + 8\n.endr\naddi t1, t1, 1\nret\n"
    ".globl load_run\nload_run:\n.set i, 0\n.rept 256\nld t1, i(a0)\n.set i, i + 8\n.endr\nret\n"
    ".option rvc\n"
    ".globl straight_rvc\nstraight_rvc:\n.rept 100000\nc.addi t1, 1\n.endr\nret\n"
    ".option pop\n");

static unsigned long rdinstret(void) {
    unsigned long v;
    __asm__ volatile("rdinstret %0" : "=r"(v));
    return v;
}

static char path[64], out[4096];

int main(void) {
    mtd_ready();
    size_t n = mtd_request_field(MTD_FIELD_PATH, path, sizeof path - 1);
    path[n < sizeof path - 1 ? n : sizeof path - 1] = 0;
    int len = 0;
    if (!strcmp(path, "/straight")) straight();
    else if (!strcmp(path, "/straight-rvc")) straight_rvc();
    else if (!strcmp(path, "/branches")) branches();
    else if (!strncmp(path, "/enter/", 7)) {
        void (*at)(void) = (void (*)(void))((char *)entry_block + 4 * atoi(path + 7));
        unsigned long before = rdinstret();
        at();
        len = snprintf(out, sizeof out, "%lu", rdinstret() - before);
    } else if (!strncmp(path, "/pairs/", 7)) {
        static unsigned long v[200];
        (atoi(path + 7) ? instret_pairs_shifted : instret_pairs)(v);
        for (int i = 1; i < 200; ++i) len += snprintf(out + len, sizeof out - len, "%lu ", v[i] - v[i - 1]);
    } else if (!strncmp(path, "/fault/", 7)) {
        char *p = mmap(0, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        munmap(p + 4096, 4096);
        load_run(p + 4096 - 8 * (atoi(path + 7) - 1000));  /* /fault/1000+J: load J faults */
    }
    mtd_respond(200, "text/plain", 10, out, len);
}
"""


@pytest.fixture(scope="module")
def shapes_elf(tmp_path_factory) -> bytes:
    return compile_guest(tmp_path_factory.mktemp("budget"), "shapes", PROGRAM)


def load(elf: bytes, budget: int) -> _core.Program:
    limits = _core.Limits()
    limits.request_instructions = budget
    return _core.Program(elf, limits)


@pytest.mark.parametrize("path", ["/straight", "/straight-rvc", "/branches"])
def test_budget_holds_in_long_straight_line_code(shapes_elf, path):
    budget = 20_000
    result = _core.Machine().request(load(shapes_elf, budget), path=path)
    assert result["outcome"] == "budget", result
    assert budget <= result["instructions"] <= budget + MAX_OVERSHOOT


@pytest.mark.parametrize("path", ["/straight", "/straight-rvc", "/branches"])
def test_every_time_slice_holds_in_long_straight_line_code(shapes_elf, path):
    slice_instructions = 25_000
    result = _core.Machine().request(load(shapes_elf, 2_000_000), path=path,
                                     slice_instructions=slice_instructions)
    assert result["outcome"] == "responded", result
    assert len(result["slices"]) >= 4
    assert max(result["slices"]) <= slice_instructions + MAX_OVERSHOOT, result["slices"]


def test_entering_a_long_block_anywhere_counts_exactly(shapes_elf):
    """Jumping into the 400-instruction block at K retires 400 - K of it and
    the ret: each entry point, segment heads included, adds its own count."""
    program, machine = load(shapes_elf, 2_000_000), _core.Machine()
    counts = [int(machine.request(program, path=f"/enter/{k}")["body"]) for k in range(401)]
    assert [counts[0] - c for c in counts] == list(range(401))


@pytest.mark.parametrize("shifted", [0, 1])
def test_instret_read_inside_long_blocks_is_exact(shapes_elf, shifted):
    result = _core.Machine().request(load(shapes_elf, 2_000_000), path=f"/pairs/{shifted}")
    assert result["body"].split() == [b"2"] * 199


def test_a_fault_anywhere_in_a_long_block_reports_the_exact_count(shapes_elf):
    program, machine = load(shapes_elf, 2_000_000), _core.Machine()
    counts = []
    for j in range(256):
        result = machine.request(program, path=f"/fault/{1000 + j}")  # same parsing work
        assert result["outcome"] == "fault" and "load access fault" in result["reason"], result
        counts.append(result["instructions"])
    assert [c - counts[0] for c in counts] == list(range(256))


CHURN = r"""
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int main(void) {
    static char buf[65536];
    for (int i = 0; i < 10; ++i) {
        char *p = mmap(0, 1l << 30, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED || munmap(p, 1l << 30) != 0) return 1;
        write(1, buf, sizeof buf);
    }
    return 0;
}
"""


def test_system_call_work_is_charged_to_the_budget(tmp_path):
    """Mapping, unmapping and copying cost host time in proportion to their
    size: 1 instruction per page-table entry and per 8 bytes, so a loop of
    large calls cannot run far longer than its budget allows."""
    elf = compile_guest(tmp_path, "churn", CHURN)
    pages = (1 << 30) // 4096
    result = _core.run_elf(elf)
    assert result["outcome"] == "exited" and result["exit_code"] == 0, result["reason"]
    assert result["instructions"] >= 10 * (2 * pages + 65536 // 8)
    stopped = _core.run_elf(elf, max_instructions=3 * pages)
    assert stopped["outcome"] == "budget"
    assert stopped["instructions"] <= 3 * pages
    assert len(stopped["stdout"]) == 65536  # one round, then the next mmap could not be paid for


INDIVISIBLE = r"""
#include <string.h>
#include <sys/mman.h>
#include "mtd_guest.h"

static char big[4 << 20], body[1 << 20], path[16];

int main(void) {
    mtd_ready();
    mtd_request_field(MTD_FIELD_PATH, path, sizeof path - 1);
    if (path[1] == 'm') memset(big, 1, sizeof big);                            /* a builtin: 512 Ki units */
    if (path[1] == 's') mmap(0, 1l << 30, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);  /* 256 Ki */
    if (path[1] == 'b') mtd_request_field(MTD_FIELD_BODY, body, sizeof body);  /* 128 Ki */
    mtd_respond(200, "text/plain", 10, "done", 4);
}
"""


@pytest.mark.parametrize("path", ["/memset", "/syscall", "/body"])
def test_indivisible_work_never_runs_in_the_first_slice(tmp_path, path):
    """A builtin, a system call or a request-field copy that costs more than
    a slice cannot be split. It never runs in the first slice (the one on
    the worker's event loop, where neighbours wait): it waits for the next
    slice, which the server runs on the long-request thread."""
    program = load(compile_guest(tmp_path, "indivisible", INDIVISIBLE), 2_000_000)
    result = _core.Machine().request(program, path=path, body="x" * (1 << 20), slice_instructions=25_000)
    assert result["outcome"] == "responded", result
    assert result["slices"][0] <= 25_000 + MAX_OVERSHOOT, result["slices"]
    assert max(result["slices"]) > 100_000  # then it ran whole, on the budget
    whole = _core.Machine().request(program, path=path, body="x" * (1 << 20))
    assert whole["instructions"] == result["instructions"]  # slicing changes nothing observable
