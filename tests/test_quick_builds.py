"""Quick builds: a new version serves from a quick build (-O1) as soon as it
is made, and its optimised build (-O2) replaces it in the background
(engine/tiers.py). The swap never serves a stale version, and a failed
optimised build leaves the quick one serving."""

import shutil
import threading
import time

import httpx
import pytest

from mtd.engine.build import BuildError

from conftest import TENANTS, make_engine


def wait_for(predicate, seconds=120.0, what="condition"):
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def get(engine, host, path="/"):
    with httpx.Client(base_url=f"http://127.0.0.1:{engine.port}", timeout=30) as c:
        return c.get(path, headers={"Host": host})


def instructions_of_one_request(engine, name, host):
    before = {s["name"]: s for s in engine.stats()}[name]["cost"]["instructions_total"]
    assert get(engine, host).status_code == 200
    return {s["name"]: s for s in engine.stats()}[name]["cost"]["instructions_total"] - before


VERSIONED = '''
def on_client_request():
    return 200, "text/plain", "version {n}\\n"
'''


def versioned(root, n):
    folder = root / "versioned"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tenant.toml").write_text('hosts = ["versioned.localhost"]\n')
    (folder / "app.py").write_text(VERSIONED.format(n=n))


def test_a_version_serves_its_quick_build_then_its_optimised_one(tmp_path):
    shutil.copytree(TENANTS / "mandelbrot", tmp_path / "tenants" / "mandelbrot")
    engine = make_engine(tmp_path / "tenants", tmp_path / "cache", quick_builds=True)
    engine.start()
    try:
        done = [r for r in engine.drain_logs() if r.event == "build_done"]
        assert done[0].fields["optimised"] is False and "quick" in done[0].text
        quick_body = get(engine, "mandelbrot.localhost").content
        quick_cost = instructions_of_one_request(engine, "mandelbrot", "mandelbrot.localhost")
        wait_for(lambda: engine.tenants["mandelbrot"].tier == "interpreted", what="the optimised build")
        records = [r for r in engine.drain_logs() if r.event == "optimised"]
        assert [r.fields["tier"] for r in records] == ["interpreted"] and records[0].fields["version"] == 1
        assert engine.tenants["mandelbrot"].version == 1  # the same version, better built
        assert get(engine, "mandelbrot.localhost").content == quick_body
        # -O2 code runs fewer guest instructions for the same answer.
        assert instructions_of_one_request(engine, "mandelbrot", "mandelbrot.localhost") < quick_cost
        assert {s["name"]: s for s in engine.stats()}["mandelbrot"]["tier"] == "interpreted"
    finally:
        engine.stop()
    # Started again, the optimised build comes from the cache: no quick one.
    engine = make_engine(tmp_path / "tenants", tmp_path / "cache", quick_builds=True)
    engine.start()
    try:
        done = [r for r in engine.drain_logs() if r.event == "build_done"]
        assert done[0].fields == {**done[0].fields, "optimised": True, "cached": True}
        assert engine.tenants["mandelbrot"].tier == "interpreted" and engine.tiers.idle()
    finally:
        engine.stop()


def test_an_optimised_build_done_after_a_newer_version_is_dropped(tmp_path):
    versioned(tmp_path / "tenants", 1)
    engine = make_engine(tmp_path / "tenants", tmp_path / "cache", quick_builds=True)
    release, blocked = threading.Event(), threading.Event()
    build = engine.builder.build

    def slow_optimised_build(spec, quick=False, source=None):
        if source is not None and b"version 1" in source:  # version 1's optimised build
            blocked.set()
            release.wait(60)
        return build(spec, quick=quick, source=source)

    engine.builder.build = slow_optimised_build
    engine.start()
    try:
        assert blocked.wait(60)
        versioned(tmp_path / "tenants", 2)
        engine.reload("versioned")
        assert get(engine, "versioned.localhost").text == "version 2\n"
        release.set()
        wait_for(engine.tiers.idle, what="the background builds")
        assert get(engine, "versioned.localhost").text == "version 2\n"
        status = engine.tenants["versioned"]
        assert (status.version, status.tier) == (2, "interpreted")
        optimised = [r.fields["version"] for r in engine.drain_logs() if r.event == "optimised"]
        assert optimised == [2]
    finally:
        release.set()
        engine.stop()


def test_a_failed_optimised_build_leaves_the_quick_build_serving(tmp_path):
    versioned(tmp_path / "tenants", 1)
    engine = make_engine(tmp_path / "tenants", tmp_path / "cache", quick_builds=True)
    build = engine.builder.build

    def failing_optimised_build(spec, quick=False, source=None):
        if source is not None:
            raise BuildError(spec.name, "app.py", None, "cc1plus ran out of memory")
        return build(spec, quick=quick, source=source)

    engine.builder.build = failing_optimised_build
    engine.start()
    try:
        wait_for(lambda: engine.tenants["versioned"].tier == "failed", what="the failure")
        records = [r for r in engine.drain_logs() if r.event == "optimised"]
        assert len(records) == 1 and records[0].fields["tier"] == "failed"
        assert "the quick build keeps serving" in records[0].text and "out of memory" in records[0].text
        assert get(engine, "versioned.localhost").text == "version 1\n"
        assert {s["name"]: s for s in engine.stats()}["versioned"]["tier"] == "failed"
    finally:
        engine.stop()


def test_saves_under_load_fail_no_request(tmp_path):
    """Each save is new code: a quick build serves it, then its optimised
    build is swapped in, then its translation; under load, not one request
    fails and every version ends translated."""
    from mtd import _core
    versioned(tmp_path / "tenants", 1)
    engine = make_engine(tmp_path / "tenants", tmp_path / "cache", quick_builds=True, translate=True)
    engine.start()
    try:
        wait_for(lambda: engine.tenants["versioned"].tier == "translated", what="version 1 translated")
        load = _core.LoadGenerator(port=engine.port, path="/", host_header="versioned.localhost",
                                   threads=1, connections=4, duration=600, rate=2000)
        load.start()
        for n in range(2, 7):
            versioned(tmp_path / "tenants", n)
            engine.reload("versioned")
            assert get(engine, "versioned.localhost").text == f"version {n}\n"
            wait_for(lambda: engine.tenants["versioned"].tier == "translated", what=f"version {n} translated")
            assert get(engine, "versioned.localhost").text == f"version {n}\n"
        load.stop()
        report = load.wait()
        assert report["requests"] > 100
        assert sum(report["errors"].values()) == 0 and report["status"]["2xx"] == report["requests"], report
        optimised = [r.fields["version"] for r in engine.drain_logs() if r.event == "optimised"]
        assert optimised == list(range(1, 7))
    finally:
        engine.stop()


def hang_optimised_builds_of_version_1(tmp_path, monkeypatch):
    """A compiler that never ends for version 1's optimised (-O2) build."""
    from mtd.engine import build as build_module
    real = shutil.which(build_module.CXX)
    fake = tmp_path / "bin" / "riscv64-hanging-g++"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\n"
                    'case " $* " in *" -O2 "*) grep -q "version 1" app.cpp 2>/dev/null '
                    f"&& exec sleep 1000;; esac\nexec {real} \"$@\"\n")
    fake.chmod(0o755)
    monkeypatch.setattr(build_module, "CXX", str(fake))


def hanging_compiles() -> int:
    import psutil
    return sum(1 for p in psutil.process_iter(["cmdline"]) if p.info["cmdline"] == ["sleep", "1000"])


@pytest.fixture
def hanging(tmp_path, monkeypatch):
    """An engine serving version 1's quick build while its optimised build hangs."""
    hang_optimised_builds_of_version_1(tmp_path, monkeypatch)
    versioned(tmp_path / "tenants", 1)
    engine = make_engine(tmp_path / "tenants", tmp_path / "cache", quick_builds=True)
    engine.start()
    try:
        wait_for(lambda: hanging_compiles() == 1, what="version 1's optimised build to hang")
        yield engine
    finally:
        engine.stop()


def test_a_replaced_versions_background_build_is_killed(hanging, tmp_path):
    """Saving version 2 kills version 1's optimised build: version 2 gets
    its own now, not after the 180 s time limit."""
    engine = hanging
    versioned(tmp_path / "tenants", 2)
    engine.reload("versioned")
    wait_for(lambda: engine.tenants["versioned"].tier == "interpreted", seconds=60,
             what="version 2's optimised build")
    assert engine.tenants["versioned"].version == 2
    assert get(engine, "versioned.localhost").text == "version 2\n"
    assert hanging_compiles() == 0


def test_stopping_the_engine_kills_its_background_build(hanging):
    engine = hanging
    engine.stop()
    wait_for(lambda: hanging_compiles() == 0 and engine.tiers.idle(), seconds=30,
             what="the build to be killed")


class SpyLock:
    """The tenant's publish lock, noting every attempt to take it."""

    def __init__(self, lock):
        self.lock, self.attempted = lock, threading.Event()

    def __enter__(self):
        self.attempted.set()
        return self.lock.__enter__()

    def __exit__(self, *exc):
        return self.lock.__exit__(*exc)


def test_a_tenant_removed_while_its_optimised_build_is_swapped_in_stays_removed(tmp_path):
    versioned(tmp_path / "tenants", 1)
    engine = make_engine(tmp_path / "tenants", tmp_path / "cache", quick_builds=True)
    in_swap, release = threading.Event(), threading.Event()
    load_elf = engine._load_elf

    def slow_swap(spec, result):
        if result.optimised:  # inside swap_build, holding the publish lock
            in_swap.set()
            release.wait(60)
        return load_elf(spec, result)

    engine._load_elf = slow_swap
    engine.start()
    try:
        assert in_swap.wait(60)
        spy = engine._publishing["versioned"] = SpyLock(engine._publishing["versioned"])
        unloading = threading.Thread(target=engine.unload, args=("versioned",))
        unloading.start()
        wait_for(spy.attempted.is_set, what="unload to wait for the swap")
        release.set()
        unloading.join()
        wait_for(engine.tiers.idle, what="the background work")
        assert engine.server.program("versioned") is None and "versioned" not in engine.tenants
        assert get(engine, "versioned.localhost").status_code == 404
    finally:
        release.set()
        engine.stop()
