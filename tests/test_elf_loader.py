"""Program headers a hostile ELF can lie with: the loader refuses or ignores
them with a clear outcome, never writing outside its own tables."""

import struct

import pytest

from mtd import _core

PT_LOAD, PT_GNU_STACK = 1, 0x6474E551
PF_X, PF_R = 1, 4
PHDR = struct.Struct("<IIQQQQQQ")  # type, flags, offset, vaddr, paddr, filesz, memsz, align


def with_extra_load(elf: bytes, vaddr: int, memsz: int) -> bytes:
    """The ELF with its PT_GNU_STACK header turned into an executable
    PT_LOAD of memsz bytes at vaddr, with nothing from the file."""
    phoff, = struct.unpack_from("<Q", elf, 32)
    phentsize, phnum = struct.unpack_from("<HH", elf, 54)
    out = bytearray(elf)
    for i in range(phnum):
        at = phoff + i * phentsize
        if PHDR.unpack_from(out, at)[0] == PT_GNU_STACK:
            PHDR.pack_into(out, at, PT_LOAD, PF_R | PF_X, 0, vaddr, vaddr, 0, memsz, 0x1000)
            return bytes(out)
    raise AssertionError("no PT_GNU_STACK header to reuse")


@pytest.fixture(scope="module")
def integers(compiled_programs):
    elf = compiled_programs["integers"].read_bytes()
    result = _core.run_elf(elf)
    assert result["outcome"] == "exited", result["reason"]
    return elf, result


def test_empty_executable_segment_anywhere_is_ignored(integers):
    # memsz 0 at an unaligned address far above the text: found by fuzz_elf,
    # it once indexed the decoder's page table out of bounds.
    elf, expected = integers
    result = _core.run_elf(with_extra_load(elf, 0x111CDCDCDCDCD, 0))
    assert (result["outcome"], result["exit_code"], result["stdout"]) == \
        ("exited", expected["exit_code"], expected["stdout"])


@pytest.mark.parametrize("vaddr, memsz", [
    (2**64 - 0x1000, 0x2000),   # wraps around to a small address
    (0x1000_0000, 0x3000_0000),  # ends past the ELF's share of the space
])
def test_segment_outside_the_address_space_is_refused(integers, vaddr, memsz):
    elf, _ = integers
    result = _core.run_elf(with_extra_load(elf, vaddr, memsz))
    assert result["outcome"] == "fault"
    assert result["reason"].startswith(f"load: PT_LOAD segment at {vaddr:#x} outside the guest address space")
