"""Our emulator against the reference, qemu-riscv64: the same ELF must give
the same stdout and exit status under both."""

import subprocess

import pytest

from mtd import _core

from conftest import GUEST_PROGRAMS, SEED_PAGE


def run_qemu(qemu, elf, stdin=b""):
    proc = subprocess.run([qemu, str(elf)], input=stdin, capture_output=True, timeout=120)
    return proc.returncode, proc.stdout


def run_ours(elf, stdin=b""):
    result = _core.run_elf(elf.read_bytes(), ["app"], stdin)
    assert result["outcome"] == "exited", result["reason"]
    return result["exit_code"], result["stdout"]


@pytest.mark.parametrize("tenant", ["hello", "counter"])
def test_tenant_elf_matches_qemu(qemu, bundled_elves, tenant):
    # Run as a plain process, a tenant serves one GET / to stdout (see the shim).
    assert run_ours(bundled_elves[tenant]) == run_qemu(qemu, bundled_elves[tenant])


def test_hello_elf_output_is_the_seed_program_output(bundled_elves):
    exit_code, stdout = run_ours(bundled_elves["hello"])
    assert exit_code == 0
    assert stdout == b"Hello from Python\n200 text/plain\n\n" + SEED_PAGE




@pytest.mark.parametrize("program", sorted(p.stem for p in GUEST_PROGRAMS.iterdir()))
def test_guest_program_matches_qemu(qemu, compiled_programs, program):
    elf = compiled_programs[program]
    ours, reference = run_ours(elf), run_qemu(qemu, elf)
    assert ours[0] == reference[0]
    assert ours[1].decode(errors="replace") == reference[1].decode(errors="replace")
