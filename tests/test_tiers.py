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


# ---- in the engine: each version serves on the interpreter at once, then
# translated, in the background

import shutil
import time

import httpx

from conftest import TENANTS, make_engine


def wait_for(predicate, seconds=120.0, what="condition"):
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.fixture
def tenants(tmp_path):
    for name in ("hello", "mandelbrot"):
        shutil.copytree(TENANTS / name, tmp_path / name)
    return tmp_path


def get(engine, host):
    with httpx.Client(base_url=f"http://127.0.0.1:{engine.port}", timeout=30) as c:
        return c.get("/", headers={"Host": host})


def test_each_version_serves_at_once_then_translated(tenants, cache_dir):
    engine = make_engine(tenants, cache_dir, translate=True)
    engine.start()
    try:
        before = {h: get(engine, h).content for h in ("hello.localhost", "mandelbrot.localhost")}
        wait_for(lambda: all(s.tier == "translated" for s in engine.tenants.values()), what="translations")
        after = {h: get(engine, h).content for h in ("hello.localhost", "mandelbrot.localhost")}
        assert after == before
        stats = {s["name"]: s for s in engine.stats()}
        for name in ("hello", "mandelbrot"):
            cost = stats[name]["cost"]
            # The last request ran translated all but its ecall.
            assert cost["translated_instructions"] > 0.4 * cost["instructions_total"]
        notes = [r.text for r in engine.drain_logs() if r.event == "translation"]
        assert any("hello" in n or "translated" in n for n in notes)
    finally:
        engine.stop()


def test_a_failed_translation_leaves_the_interpreter_serving(tenants, cache_dir, monkeypatch):
    from mtd.engine import translate
    monkeypatch.setattr(translate, "HOST_CXX", "/bin/false")  # a compiler that always fails
    monkeypatch.setattr(translate, "cache_key", lambda source: "never-cached-" + str(time.monotonic_ns()))
    engine = make_engine(tenants, cache_dir, translate=True)
    engine.start()
    try:
        wait_for(lambda: all(s.tier == "failed" for s in engine.tenants.values()), what="the failures")
        records = [r for r in engine.drain_logs() if r.event == "translation"]
        assert any("translation failed, it stays interpreted" in r.text for r in records)
        assert get(engine, "hello.localhost").status_code == 200
    finally:
        engine.stop()


def test_reloads_under_load_fail_no_request(tenants, cache_dir):
    """20 reloads of a translated tenant while a load generator runs: each
    new version serves on the interpreter and then translated, swapped
    between requests; not one request fails."""
    from mtd import _core
    engine = make_engine(tenants, cache_dir, translate=True)
    engine.start()
    try:
        wait_for(lambda: engine.tenants["hello"].tier == "translated", what="the first translation")
        load = _core.LoadGenerator(port=engine.port, path="/", host_header="hello.localhost", threads=1,
                                   connections=4, duration=600, rate=2000)
        load.start()
        for version in range(2, 22):
            engine.reload("hello")
            wait_for(lambda: engine.tenants["hello"].version == version
                     and engine.tenants["hello"].tier == "translated", what=f"version {version} translated")
        load.stop()
        report = load.wait()
        assert report["requests"] > 100
        assert sum(report["errors"].values()) == 0 and report["status"]["2xx"] == report["requests"], report
    finally:
        engine.stop()


def test_the_translation_cache_is_the_operators_alone(compiled_programs, tmp_path):
    """Its shared objects run as host code: a cache folder others could
    write into is made private before anything in it is loaded."""
    import os
    import stat

    elf = compiled_programs[PROGRAMS[0]].read_bytes()
    source = _core.run_elf(elf, stdin=STDIN, emit_translation=True, frozen=True)["translation_source"]
    (tmp_path / "translations").mkdir(mode=0o777)
    os.chmod(tmp_path / "translations", 0o777)
    compiled = compile_translation(source, tmp_path)
    assert stat.S_IMODE(os.stat(tmp_path / "translations").st_mode) == 0o700
    assert compiled.path.parent == tmp_path / "translations"
