"""Nothing one request leaves in the machine reaches the next: every integer
and FP register, the FP control and status register, the LR/SC reservation
and the guest's memory start each request exactly as the master left them,
whatever the previous request on that Machine did, and whichever tenant it
was. A request that dirties all of them with values from its input is
followed by one that reports them; the reports must be identical to a fresh
Machine's."""

import pytest

from mtd import _core

from conftest import compile_guest

STATE = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "mtd_guest.h"

/* Filled by start_state() right after the READY ecall returns, before any
   compiled code runs: x1..x31, f0..f31, fcsr, and what an sc.d on `cell`
   returned (0: a reservation survived). */
unsigned long saved_x[32], saved_f[32], saved_fcsr, saved_sc;
unsigned long cell;
static char body[4096], path[64];
static unsigned char heap_sum_buf[256];

void start_state(void);
void dirty_and_respond(unsigned long n, const char *ct, unsigned long ct_len, const char *b, unsigned long b_len);

__asm__(
    ".text\n.globl start_state\nstart_state:\n"
    "li a7, 0x4D00\necall\n"             /* READY: every request resumes right after this */
    "addi sp, sp, -16\nsd t0, 0(sp)\n"    /* t0 is the base register below: keep it first */
    "la t0, saved_x\n"
    ".irp r, 1,2,3,4,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31\n"
    "sd x\\r, (\\r * 8)(t0)\n.endr\n"
    "ld t1, 0(sp)\nsd t1, 40(t0)\n"      /* t0 as it was */
    "addi t1, sp, 16\nsd t1, 16(t0)\n"   /* sp as it was */
    "la t0, saved_f\n"
    ".irp r, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31\n"
    "fsd f\\r, (\\r * 8)(t0)\n.endr\n"
    "la t0, saved_fcsr\nfrcsr t1\nsd t1, 0(t0)\n"
    "la t0, cell\nli t1, 1\nsc.d t2, t1, (t0)\nla t0, saved_sc\nsd t2, 0(t0)\n"
    "ld t0, 0(sp)\naddi sp, sp, 16\nret\n"

    /* Sets every register it can to something of n's, takes a reservation,
       sets the rounding mode and raises flags, then responds. */
    ".globl dirty_and_respond\ndirty_and_respond:\n"
    "fmv.d.x ft0, a0\n"
    ".irp r, 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31\n"
    "fmv.d.x f\\r, a0\n.endr\n"
    "csrw fflags, a0\ncsrw frm, a0\n"
    "la t0, cell\nlr.d t1, (t0)\n"
    "mv ra, a0\nmv gp, a0\nmv tp, a0\nmv t0, a0\nmv t1, a0\nmv t2, a0\nmv s0, a0\nmv s1, a0\n"
    "mv a5, a0\nmv a6, a0\nmv s2, a0\nmv s3, a0\nmv s4, a0\nmv s5, a0\nmv s6, a0\nmv s7, a0\n"
    "mv s8, a0\nmv s9, a0\nmv s10, a0\nmv s11, a0\nmv t3, a0\nmv t4, a0\nmv t5, a0\nmv t6, a0\n"
    "xor sp, sp, a0\n"
    "mv t0, a1\nmv t1, a2\nmv t2, a3\n"
    "mv a3, t2\nmv a2, t1\nmv a1, t0\nmv t0, a0\nmv a4, a4\n"
    "li a0, 200\nli a7, 0x4D01\necall\n");

int main(void) {
    char *heap = malloc(64);
    strcpy(heap, "master");
    start_state();
    size_t n = mtd_request_field(MTD_FIELD_PATH, path, sizeof path - 1);
    path[n < sizeof path - 1 ? n : sizeof path - 1] = 0;
    unsigned long v;
    if (sscanf(path, "/dirty/%lu", &v) == 1) {
        /* Memory too: the heap, the stack below us, static data. */
        snprintf(heap, 64, "dirty %lu", v);
        memset(heap_sum_buf, (int)v, sizeof heap_sum_buf);
        volatile char below[512];
        memset((char *)below, (int)v, sizeof below);
        dirty_and_respond(v * 0x9e3779b97f4a7c15ul, "text/plain", 10 + v % 7, body, v % 100);
    }
    int len = 0;
    for (int i = 1; i < 32; ++i) len += snprintf(body + len, sizeof body - len, "x%d=%lx\n", i, saved_x[i]);
    for (int i = 0; i < 32; ++i) len += snprintf(body + len, sizeof body - len, "f%d=%lx\n", i, saved_f[i]);
    unsigned sum = 0;
    for (size_t i = 0; i < sizeof heap_sum_buf; ++i) sum += heap_sum_buf[i];
    len += snprintf(body + len, sizeof body - len, "fcsr=%lx sc=%lx heap=%s static=%u\n", saved_fcsr, saved_sc, heap, sum);
    mtd_respond(200, "text/plain", 10, body, len);
}
"""

OTHER = r"""
#include "mtd_guest.h"
static char buf[64];
int main(void) {
    mtd_ready();
    for (int i = 0; i < 64; ++i) buf[i] = (char)i;
    mtd_respond(201, "application/x-other", 19, buf, sizeof buf);
}
"""


@pytest.fixture(scope="module")
def programs(tmp_path_factory):
    out = tmp_path_factory.mktemp("isolation")
    return _core.Program(compile_guest(out, "state", STATE)), _core.Program(compile_guest(out, "other", OTHER))


def report(machine, program) -> str:
    result = machine.request(program, path="/report")
    assert result["outcome"] == "responded", result
    return result["body"].decode()


def test_a_fresh_machine_sees_the_masters_state(programs):
    state, _ = programs
    text = report(_core.Machine(), state)
    assert "sc=1 " in text  # no reservation: a fork never inherits one
    assert "heap=master static=0" in text


@pytest.mark.parametrize("n", [1, 2, 3, 77, 2**20 + 5])
def test_what_a_request_leaves_never_reaches_the_next(programs, n):
    state, other = programs
    fresh = report(_core.Machine(), state)
    machine = _core.Machine()
    dirty = machine.request(state, path=f"/dirty/{n}")
    assert dirty["outcome"] == "responded" and len(dirty["body"]) == n % 100, dirty
    assert report(machine, state) == fresh
    # Dirty again, then another tenant on the same Machine, then back.
    machine.request(state, path=f"/dirty/{n + 1}")
    assert machine.request(other)["status"] == 201
    assert report(machine, state) == fresh
    # A request that faults or runs out of budget mid-way leaves nothing either.
    machine.request(state, path=f"/dirty/{n + 2}")
    assert report(machine, state) == fresh


def test_requests_sliced_into_pieces_start_the_same(programs):
    state, _ = programs
    fresh = report(_core.Machine(), state)
    machine = _core.Machine()
    machine.request(state, path="/dirty/9", slice_instructions=50)
    result = machine.request(state, path="/report", slice_instructions=50)
    assert len(result["slices"]) > 2 and result["body"].decode() == fresh
