"""A short libFuzzer run of every target in cpp/fuzz (./mtd fuzz).

Optional tooling: skipped unless clang-14 and its libFuzzer runtime are
installed. The instrumented build is kept in build/fuzz and only rebuilt when
sources change (the first build takes a few minutes on 2 cores)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
TARGETS = ["fuzz_elf", "fuzz_instructions", "fuzz_request"]


def _libfuzzer_available() -> bool:
    clang = shutil.which("clang++-14")
    if clang is None:
        return False
    runtime = subprocess.run([clang, "-print-file-name=libclang_rt.fuzzer-x86_64.a"],
                             capture_output=True, text=True).stdout.strip()
    return Path(runtime).is_file()


pytestmark = pytest.mark.skipif(
    not _libfuzzer_available(), reason="clang-14 not installed (apt-get install clang-14 libclang-rt-14-dev)")


# The first build of the instrumented targets compiles the interpreter with
# ASan+UBSan under clang: over 10 minutes on a busy 2-core machine.
@pytest.mark.timeout(1800)
def test_fuzz_targets_short_run():
    # 3 s or 2000 inputs per target, whichever comes first.
    # Under `./mtd sanitize` this process has gcc's libasan preloaded and its
    # report options set: the clang-built targets bring their own runtime
    # ("incompatible ASan runtimes") and report into their own log.
    env = {k: v for k, v in os.environ.items()
           if k not in ("LD_PRELOAD", "ASAN_OPTIONS", "UBSAN_OPTIONS")}
    proc = subprocess.run([str(REPO / "mtd"), "fuzz", "3", "-runs=2000"], cwd=REPO,
                          capture_output=True, text=True, timeout=1700, env=env)
    report = proc.stdout + proc.stderr[-4000:]
    assert proc.returncode == 0, report
    for target in TARGETS:
        line = next((l for l in proc.stdout.splitlines() if l.startswith(target)), None)
        assert line is not None, report
        assert "crashes 0" in line, report


@pytest.mark.timeout(1800)
def test_fuzz_corpus_runs_alike_on_both_tiers():
    """fuzz_instructions with MTD_FUZZ_TIERS=1 runs each input in the
    interpreter and in its translation and crashes if they differ: here on
    every input of the checked-in corpus (raw code and shaped programs)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("LD_PRELOAD", "ASAN_OPTIONS", "UBSAN_OPTIONS")}
    build = subprocess.run([str(REPO / "mtd"), "fuzz", "0", "-runs=0"], cwd=REPO, capture_output=True,
                           text=True, timeout=1700, env=env)
    assert build.returncode == 0, build.stderr[-4000:]
    inputs = sorted(str(p) for p in (REPO / "cpp" / "fuzz" / "corpus" / "fuzz_instructions").iterdir())
    run = subprocess.run([str(REPO / "build" / "fuzz" / "fuzz_instructions"), *inputs], capture_output=True,
                         text=True, timeout=1700, env={**env, "MTD_FUZZ_TIERS": "1"})
    assert run.returncode == 0, run.stderr[-4000:]
    assert f"Executed {inputs[-1]}" in run.stderr
