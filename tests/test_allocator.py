"""The guest allocator (engine/guest/mtd_malloc.c), which replaces glibc's
malloc in every tenant ELF: it is what tenants link, it gives the same
results as glibc's under a hard random workload (under qemu and under our
emulator), and a C++ tenant using it serves correct, repeatable answers."""

import subprocess
from pathlib import Path

import httpx
import pytest

from mtd.engine.build import ALLOCATOR, ALLOCATOR_FLAGS, CXX
from mtd.engine.tenants import load_tenant

from conftest import GUEST_PROGRAMS, make_engine
from test_differential import run_ours, run_qemu

GUEST_TENANTS = Path(__file__).resolve().parent / "guest_tenants"


def symbols(elf: Path) -> set[str]:
    out = subprocess.run(["riscv64-linux-gnu-nm", str(elf)], capture_output=True, text=True,
                         check=True)
    return {line.split()[-1] for line in out.stdout.splitlines() if line.strip()}


@pytest.fixture(scope="module")
def allocator_program_with_mtd(tmp_path_factory) -> Path:
    """tests/guest_programs/allocator.c linked with the allocator object,
    compiled exactly as the build pipeline compiles it."""
    out = tmp_path_factory.mktemp("allocator")
    subprocess.run([CXX, *ALLOCATOR_FLAGS, str(ALLOCATOR), "-o", str(out / "mtd_malloc.o")],
                   check=True, capture_output=True, timeout=120)
    elf = out / "allocator-mtd.elf"
    subprocess.run(["riscv64-linux-gnu-gcc", "-O2", "-static", str(GUEST_PROGRAMS / "allocator.c"),
                    str(out / "mtd_malloc.o"), "-o", str(elf)],
                   check=True, capture_output=True, timeout=120)
    return elf


@pytest.mark.parametrize("tenant", ["hello", "counter", "api", "mandelbrot"])
def test_tenants_link_the_mtd_allocator(bundled_elves, tenant):
    found = symbols(bundled_elves[tenant])
    assert "alloc_slow" in found  # ours
    assert "_int_malloc" not in found and "__libc_malloc" not in found  # not glibc's


def test_allocator_program_agrees_with_glibc_malloc(qemu, compiled_programs,
                                                    allocator_program_with_mtd):
    with_glibc = run_qemu(qemu, compiled_programs["allocator"])
    assert with_glibc[0] == 0 and with_glibc[1].startswith(b"failures 0 "), with_glibc
    assert "_int_malloc" not in symbols(allocator_program_with_mtd)
    assert run_qemu(qemu, allocator_program_with_mtd) == with_glibc
    assert run_ours(allocator_program_with_mtd) == with_glibc


@pytest.fixture(scope="module")
def allocator_tenant(tmp_path_factory):
    root = tmp_path_factory.mktemp("allocator-tenant")
    (root / "allocator").mkdir()
    (root / "allocator" / "app.cpp").write_text((GUEST_TENANTS / "allocator.cpp").read_text())
    (root / "allocator" / "tenant.toml").write_text("default = true\n")
    return root


def test_allocator_tenant_standalone_matches_qemu(qemu, builder, allocator_tenant):
    elf = builder.build(load_tenant(allocator_tenant / "allocator")).elf
    assert "alloc_slow" in symbols(elf)
    ours = run_ours(elf)
    assert ours == run_qemu(qemu, elf)
    assert ours[0] == 0 and len(ours[1]) == 17


def test_allocator_tenant_serves_the_same_answer_every_request(qemu, builder, cache_dir,
                                                               allocator_tenant):
    expected = run_qemu(qemu, builder.build(load_tenant(allocator_tenant / "allocator")).elf)[1]
    engine = make_engine(allocator_tenant, cache_dir)
    engine.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{engine.port}", timeout=10) as c:
            for _ in range(20):
                response = c.get("/")
                assert response.status_code == 200, response.text
                assert response.content == expected
    finally:
        engine.stop()


# The rest of glibc's malloc API: any function of it the allocator lacked
# would bring glibc's malloc.o into the static link beside ours, and the link
# would fail on two mallocs. std::thread too (thread exit refers, weakly, to
# glibc's per-thread arena cleanup).
MALLOC_API_TENANT = r"""
#include <malloc.h>
#include <cstdio>
#include <string>
#include <system_error>
#include <thread>
#include "mtd_guest.h"

int main() {
    bool standalone = mtd_ready() != 0;
    std::string out;
    try {
        std::thread t([] {});
        t.join();
        out += "thread ran\n";
    } catch (const std::system_error &) {
        out += "no threads\n";
    }
    out += mallopt(M_MMAP_THRESHOLD, 1 << 20) ? "mallopt\n" : "mallopt failed\n";
    out += malloc_trim(0) == 0 ? "trim\n" : "trim freed\n";
    out += mallinfo2().arena == 0 ? "mallinfo2\n" : "mallinfo2 arena\n";
    malloc_stats();
    out += malloc_info(0, stderr) == 0 ? "malloc_info\n" : "malloc_info failed\n";
    if (standalone) {
        std::fputs(out.c_str(), stdout);
        return 0;
    }
    mtd_respond(200, "text/plain", 10, out.data(), out.size());
}
"""


def test_whole_malloc_api_links_against_the_mtd_allocator(builder, tmp_path):
    (tmp_path / "api").mkdir()
    (tmp_path / "api" / "app.cpp").write_text(MALLOC_API_TENANT)
    elf = builder.build(load_tenant(tmp_path / "api")).elf
    assert "alloc_slow" in symbols(elf) and "_int_malloc" not in symbols(elf)
    # Our emulator has no clone: the thread cannot start, the rest works.
    assert run_ours(elf) == (0, b"no threads\nmallopt\ntrim\nmallinfo2\nmalloc_info\n")
