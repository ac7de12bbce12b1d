"""The guest's mmap area (0x40000000-0xE0000000, 2.5 GiB) used up and given
back: every page is found, holes inside full page-table leaves are found
again, and unmapping makes the space whole. Our emulator only: qemu maps
into the host's far larger address space, so addresses do not compare."""

import re
import subprocess

import pytest

from mtd import _core

PROGRAM = r"""
#include <stdio.h>
#include <sys/mman.h>

static void* map(long len) {
    return mmap(0, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}

int main(void) {
    static char* big[64];
    static char* mid[64];
    static char* pages[1024];
    for (int pass = 0; pass < 2; ++pass) {
        long nbig = 0, nmid = 0, npages = 0;
        char* p;
        while (nbig < 64 && (p = map(64l << 20)) != MAP_FAILED) big[nbig++] = p;
        while (nmid < 64 && (p = map(1l << 20)) != MAP_FAILED) mid[nmid++] = p;
        while (npages < 1024 && (p = map(4096)) != MAP_FAILED) pages[npages++] = p;
        printf("pass %d: %ld x 64 MiB, %ld x 1 MiB, %ld pages\n", pass, nbig, nmid, npages);

        // A hole in the middle of a full leaf (2 MiB), then one across two.
        char* hole = big[3] + (5l << 20) + 7 * 4096;
        munmap(hole, 4096);
        printf("page hole refilled: %d\n", map(4096) == hole);
        char* across = big[5] + (2l << 20) - 4096;
        munmap(across, 3 * 4096);
        printf("3-page hole refilled: %d\n", map(3 * 4096) == across);
        printf("then: %s\n", map(4096) == MAP_FAILED ? "full" : "mapped");

        for (long i = 0; i < nbig; ++i) munmap(big[i], 64l << 20);
        for (long i = 0; i < nmid; ++i) munmap(mid[i], 1l << 20);
        for (long i = 0; i < npages; ++i) munmap(pages[i], 4096);
    }
    return 0;
}
"""


@pytest.fixture(scope="module")
def address_space_elf(tmp_path_factory):
    out = tmp_path_factory.mktemp("address-space")
    (out / "address_space.c").write_text(PROGRAM)
    subprocess.run(["riscv64-linux-gnu-gcc", "-O2", "-static", str(out / "address_space.c"),
                    "-o", str(out / "address_space.elf")], check=True, capture_output=True, timeout=300)
    return (out / "address_space.elf").read_bytes()


def test_mmap_area_is_used_up_and_given_back(address_space_elf):
    # 1,280 leaves of page table: 5 MiB charged, well inside 64 MiB.
    result = _core.run_elf(address_space_elf, max_memory=64 << 20)
    assert result["outcome"] == "exited", result["reason"]
    lines = result["stdout"].decode().splitlines()
    passes = [lines[0:4], lines[4:8]]
    for number, (counts, page_hole, across_hole, then) in enumerate(passes):
        big, mid, pages = map(int, re.fullmatch(rf"pass {number}: (\d+) x 64 MiB, (\d+) x 1 MiB, (\d+) pages",
                                                counts).groups())
        # Every page of the area, in both passes: unmapping gave them all
        # back (the second pass starts its search where the first ended, so
        # it may split them differently).
        assert (big << 26) + (mid << 20) + (pages << 12) == 0xE000_0000 - 0x4000_0000
        assert page_hole == "page hole refilled: 1"
        assert across_hole == "3-page hole refilled: 1"
        assert then == "then: full"
