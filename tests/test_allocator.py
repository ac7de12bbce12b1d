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
