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


# ---- every bound load_elf checks, each at its edge, on a minimal ELF

EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
PT_INTERP, PT_DYNAMIC = 3, 2
PF_W = 2
EXIT_0 = struct.pack("<III", 0x00000513, 0x05D00893, 0x00000073)  # li a0, 0; li a7, 93; ecall
ADDI_T1 = struct.pack("<I", 0x00130313)  # addi t1, t1, 1
CODE_AT, CODE_OFFSET = 0x10000, 0x1000


def minimal_elf(code: bytes = EXIT_0, phdrs=None, **fields) -> bytes:
    """A static RV64 executable: code at 0x10000 (R|X, from file offset
    0x1000), a zeroed RW page at 0x200000, entry at the code. `phdrs`
    replaces the program headers; keyword arguments override header fields."""
    if phdrs is None:
        phdrs = [(PT_LOAD, PF_R | PF_X, CODE_OFFSET, CODE_AT, len(code), len(code)),
                 (PT_LOAD, PF_R | PF_W, CODE_OFFSET, 0x200000, 0, 0x1000)]
    header = dict(ident=b"\x7fELF\x02\x01\x01" + bytes(9), type=2, machine=243, version=1, entry=CODE_AT,
                  phoff=64, shoff=0, flags=0x5, ehsize=64, phentsize=56, phnum=len(phdrs), shentsize=64,
                  shnum=0, shstrndx=0)
    header.update(fields)
    out = bytearray(EHDR.pack(*header.values()))
    for p in phdrs:
        out += PHDR.pack(p[0], p[1], p[2], p[3], p[3], p[4], p[5], 0x1000)
    out += bytes(CODE_OFFSET - len(out))
    return bytes(out + code)


def load_error(elf: bytes, **kwargs) -> str:
    result = _core.run_elf(elf, **kwargs)
    assert result["outcome"] == "fault", result
    return result["reason"]


def runs(elf: bytes) -> bool:
    result = _core.run_elf(elf)
    return result["outcome"] == "exited" and result["exit_code"] == 0


def test_the_minimal_elf_runs():
    assert runs(minimal_elf())


END = CODE_OFFSET + len(EXIT_0)  # the file's size


@pytest.mark.parametrize("elf, error", [
    (minimal_elf()[:63], "load: not an ELF file (too short)"),
    (b"\x7fELG" + minimal_elf()[4:], "load: not an ELF file"),
    (minimal_elf(ident=b"\x7fELF\x01\x01\x01" + bytes(9)), "load: not a 64-bit little-endian ELF"),
    (minimal_elf(ident=b"\x7fELF\x02\x02\x01" + bytes(9)), "load: not a 64-bit little-endian ELF"),
    (minimal_elf(machine=62), "load: not a RISC-V ELF (e_machine 62)"),
    (minimal_elf(type=3), "load: position-independent/dynamic ELF"),
    (minimal_elf(type=1), "load: not an executable ELF"),
    (minimal_elf(phentsize=57), "load: bad program header table"),
    (minimal_elf(phnum=0), "load: bad program header table"),
    (minimal_elf(phnum=65), "load: bad program header table"),
    (minimal_elf(phoff=END), "load: program headers outside the file"),
    (minimal_elf(phoff=END - 2 * 56 + 1), "load: program headers outside the file"),
    (minimal_elf(flags=0x1), "load: ELF is not built for the lp64d ABI"),
    (minimal_elf(phdrs=[(PT_INTERP, PF_R, 0, 0x1000, 0, 1), (PT_LOAD, PF_R | PF_X, CODE_OFFSET, CODE_AT, 12, 12)]),
     "load: dynamically linked ELF"),
    (minimal_elf(phdrs=[(PT_DYNAMIC, PF_R, 0, 0x1000, 0, 1), (PT_LOAD, PF_R | PF_X, CODE_OFFSET, CODE_AT, 12, 12)]),
     "load: dynamically linked ELF"),
    # File bytes: more than the segment's memory, an offset past the end, or
    # running one byte past the end of the file.
    (minimal_elf(phdrs=[(PT_LOAD, PF_R | PF_X, CODE_OFFSET, CODE_AT, 13, 12)]), "load: PT_LOAD segment outside the file"),
    (minimal_elf(phdrs=[(PT_LOAD, PF_R | PF_X, END + 1, CODE_AT, 0, 12)]), "load: PT_LOAD segment outside the file"),
    (minimal_elf(phdrs=[(PT_LOAD, PF_R | PF_X, CODE_OFFSET, CODE_AT, 13, 13)]), "load: PT_LOAD segment outside the file"),
    (minimal_elf(phdrs=[(PT_LOAD, PF_R | PF_X, CODE_OFFSET + 1, CODE_AT, 12, 12)]),
     "load: PT_LOAD segment outside the file"),
    # Addresses: below the first page, past the ELF's share of the space.
    (minimal_elf(phdrs=[(PT_LOAD, PF_R | PF_X, CODE_OFFSET, 0xFFF, 12, 12)], entry=0xFFF),
     "load: PT_LOAD segment at 0xfff outside the guest address space"),
    (minimal_elf(phdrs=[(PT_LOAD, PF_R | PF_X, CODE_OFFSET, CODE_AT, 12, 12),
                        (PT_LOAD, PF_R | PF_W, CODE_OFFSET, 0x2000_0000 - 0x1000, 0, 0x1001)]),
     "load: PT_LOAD segment at 0x1ffff000 outside the guest address space"),
    (minimal_elf(phdrs=[(PT_LOAD, PF_R | PF_X, CODE_OFFSET, CODE_AT, 12, 12),
                        (PT_LOAD, PF_R | PF_W, CODE_OFFSET, 0x2000_0001, 0, 1)]),
     "load: PT_LOAD segment at 0x20000001 outside the guest address space"),
    (minimal_elf(phdrs=[(PT_LOAD, PF_R | PF_W, CODE_OFFSET, CODE_AT, 12, 12)]), "load: ELF has no executable segment"),
    (minimal_elf(entry=CODE_AT + 0x1000), "load: entry point outside the executable segment"),
    (minimal_elf(entry=CODE_AT - 2), "load: entry point outside the executable segment"),
])
def test_each_bound_of_the_loader_refuses_with_its_reason(elf, error):
    assert load_error(elf).startswith(error)


@pytest.mark.parametrize("elf", [
    minimal_elf(phnum=2),
    minimal_elf(phdrs=[(PT_LOAD, PF_R | PF_X, CODE_OFFSET, CODE_AT, 12, 12)] * 64),   # 64 headers: the most
    minimal_elf(phdrs=[(PT_LOAD, PF_R | PF_X, CODE_OFFSET, CODE_AT, 12, 12)]),        # file bytes end at the end
    minimal_elf(phdrs=[(PT_LOAD, PF_R | PF_X, CODE_OFFSET, CODE_AT, 12, 12),                        # up to the edge
                       (PT_LOAD, PF_R | PF_W, CODE_OFFSET, 0x2000_0000 - 0x1000, 0, 0x1000)]),
], ids=["two headers", "64 headers", "segment ends at the file's end", "segment ends at the space's edge"])
def test_the_loader_accepts_each_bound_exactly(elf):
    assert runs(elf)


def test_program_headers_ending_at_the_files_end_are_read():
    elf = bytearray(minimal_elf())
    table = elf[64:64 + 2 * 56]
    elf = bytes(elf) + table  # the same table again, last in the file
    fields = EHDR.unpack_from(elf)
    patched = bytearray(elf)
    EHDR.pack_into(patched, 0, *fields[:6], len(elf) - len(table), *fields[7:])
    assert runs(bytes(patched))


def test_init_memory_limit_covers_the_elfs_segments():
    big = minimal_elf(phdrs=[(PT_LOAD, PF_R | PF_X, CODE_OFFSET, CODE_AT, 12, 12),
                             (PT_LOAD, PF_R | PF_W, CODE_OFFSET, 0x200000, 0, 8 << 20)])
    assert runs(big)
    assert load_error(big, max_memory=4 << 20) == "load: ELF does not fit in the init memory limit"


def test_oversized_elf_files_and_texts_are_refused():
    """The tenant chooses how big its file and its code are; the records a
    text decodes into take 8 times its size in host memory."""
    elf = minimal_elf()
    assert runs(elf + bytes((64 << 20) - len(elf)))
    assert load_error(elf + bytes((64 << 20) - len(elf) + 1)) == "load: ELF file is 65 MiB; at most 64 MiB"
    assert runs(minimal_elf(phdrs=[(PT_LOAD, PF_R | PF_X, CODE_OFFSET, CODE_AT, 12, 16 << 20)]))
    assert load_error(minimal_elf(phdrs=[(PT_LOAD, PF_R | PF_X, CODE_OFFSET, CODE_AT, 12, (16 << 20) + 1)])) == \
        "load: executable segments span 17 MiB; at most 16 MiB of code"


def test_running_more_distinct_code_than_the_record_cap_faults():
    """32 MiB of decoded records is 4 MiB of code: 1.1 M distinct 4-byte
    instructions run once each need more, and the run faults rather than
    taking the host's memory. 0.9 M fit."""
    fits = _core.run_elf(minimal_elf(ADDI_T1 * 900_000 + EXIT_0))
    assert fits["outcome"] == "exited", fits
    stopped = _core.run_elf(minimal_elf(ADDI_T1 * 1_100_000 + EXIT_0))
    assert stopped["outcome"] == "fault"
    assert stopped["reason"].startswith("decoded-code limit exceeded")
    assert stopped["decoded_units"] <= (32 << 20) // 4096
