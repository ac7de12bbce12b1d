"""The second execution tier (translated code) is the interpreter, faster:
every program of the differential corpus, run once in the interpreter
noting what it runs, then again in the translation of that, must give the
same output, exit, fault, registers and instruction count, with nearly
all of its instructions run translated."""

import pytest

from mtd import _core
from mtd.engine.translate import compile_translation

from conftest import GUEST_PROGRAMS

PROGRAMS = sorted(p.stem for p in GUEST_PROGRAMS.iterdir())
STDIN = b"some input for the programs that read\n" * 3


def both_tiers(elf: bytes, cache_dir, **kwargs):
    first = _core.run_elf(elf, stdin=STDIN, emit_translation=True, frozen=True, **kwargs)
    assert first["translation_source"], "nothing to translate"
    so = compile_translation(first["translation_source"], cache_dir).path
    second = _core.run_elf(elf, stdin=STDIN, translation=str(so), frozen=True, **kwargs)
    return first, second


SAME = ["outcome", "reason", "exit_code", "stdout", "stderr", "instructions", "x", "f"]


@pytest.mark.parametrize("name", PROGRAMS)
def test_translated_program_matches_the_interpreter(compiled_programs, cache_dir, name):
    elf = compiled_programs[name].read_bytes()
    interpreted, translated = both_tiers(elf, cache_dir)
    for key in SAME:
        assert translated[key] == interpreted[key], key
    assert translated["translated_instructions"] > 0.5 * translated["instructions"]
