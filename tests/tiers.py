"""Running a test on both execution tiers: `tier` parametrises a test, and
`in_tier` gives it a Program that runs in that tier. For the translated
tier, the paths the test will ask for are profiled first, so that the code
they run is what gets translated, then the translation is compiled (in the
build sandbox) and attached."""

from __future__ import annotations

import pytest

from mtd import _core
from mtd.engine.translate import compile_translation

TIERS = ["interpreted", "translated"]


def in_tier(program: _core.Program, tier: str, cache_dir, paths=("/",)) -> _core.Program:
    if tier == "translated":
        for path in paths:
            program.profile(path=path)
        source = program.translation_source()["source"]
        assert source, "nothing to translate"
        program.attach_translation(str(compile_translation(source, cache_dir).path))
        assert program.translated
    return program


tier = pytest.mark.parametrize("tier", TIERS)
