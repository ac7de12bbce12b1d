"""The built-in load generator against the engine: exact counts, stats that
agree with them, and hot swaps under load without a single failed request."""

import threading
import time

import httpx
import pytest

from mtd import _core
from mtd.engine.loadtest import LoadTest, LoadTestSpec

from conftest import make_engine


def stats_of(engine, name):
    return next(s for s in engine.stats() if s["name"] == name)


@pytest.mark.parametrize("vanilla", [False, True], ids=["sandboxed", "vanilla"])
def test_known_request_count(engine, vanilla):
    before = stats_of(engine, "hello")["requests"]
    spec = LoadTestSpec(tenant="hello", requests=2000, duration=0, connections=4, threads=1,
                        vanilla=vanilla)
    result = LoadTest(engine, spec).start().wait()
    report = result.report
    assert report["requests"] == 2000
    assert report["status"]["2xx"] == 2000
    assert sum(report["errors"].values()) == 0
    assert report["body_bytes"] == 2000 * 76  # the seed page
    assert report["latency"]["p50_us"] > 0 and report["latency"]["max_us"] >= report["latency"]["p99_us"]
    # The server counted exactly what the generator sent (vanilla is not a tenant).
    assert stats_of(engine, "hello")["requests"] == before + (0 if vanilla else 2000)


def test_fixed_rate_is_held(engine):
    spec = LoadTestSpec(tenant="hello", duration=2.0, rate=500, connections=4, threads=1)
    report = LoadTest(engine, spec).start().wait().report
    assert 900 <= report["requests"] <= 1100  # 500/s for 2 s
    assert sum(report["errors"].values()) == 0


def test_absent_server_is_reported_as_connect_errors():
    generator = _core.LoadGenerator(port=1, requests=5, duration=0, connections=1)
    generator.start()
    report = generator.wait()
    assert report["requests"] == 0
    assert report["errors"]["connect"] == 5


def test_progress_moves_while_running(engine):
    test = LoadTest(engine, LoadTestSpec(tenant="hello", duration=1.5, connections=4, threads=1))
    test.start()
    time.sleep(0.7)
    middle = test.progress()
    result = test.wait()
    assert 0 < middle["completed"] < result.report["requests"]
    assert not middle["done"] and test.progress()["done"]


def version_source(version):
    return f"def on_client_request():\n    return 'text/plain', 'v{version}'\n"


def test_twenty_reloads_under_load_fail_nothing(tmp_path, cache_dir):
    folder = tmp_path / "swap"
    folder.mkdir()
    (folder / "app.py").write_text(version_source(0))
    (folder / "tenant.toml").write_text("default = true\n")
    engine = make_engine(tmp_path, cache_dir)
    engine.start()
    try:
        test = LoadTest(engine, LoadTestSpec(tenant="swap", duration=120, connections=8,
                                             threads=1)).start()
        with httpx.Client(base_url=f"http://127.0.0.1:{engine.port}") as client:
            for i in range(1, 21):
                version = i % 2  # two sources: after the first two builds, reloads hit the cache
                (folder / "app.py").write_text(version_source(version))
                engine.reload("swap")
                assert client.get("/").text == f"v{version}"
        progress = test.progress()
        test.stop()
        report = test.wait().report
    finally:
        engine.stop()
    assert engine.tenants["swap"].version == 21
    assert progress["completed"] > 0 and report["requests"] > 0
    assert sum(report["errors"].values()) == 0
    assert report["status"]["2xx"] == report["requests"]
