"""The admin listener: /metrics (Prometheus text format) and /stats (JSON) on
loopback, on their own port and never through the tenant port."""

import re

import pytest

import httpx

from conftest import SEED_PAGE


def test_stats_json_counts_requests(engine, client):
    for _ in range(5):
        client.get("/", headers={"Host": "counter.localhost"})
    with httpx.Client(base_url=f"http://127.0.0.1:{engine.admin_port}") as admin:
        stats = admin.get("/stats")
    assert stats.status_code == 200
    assert stats.headers["content-type"].startswith("application/json")
    counter = next(t for t in stats.json() if t["name"] == "counter")
    python_view = next(t for t in engine.stats() if t["name"] == "counter")
    assert counter["requests"] == python_view["requests"] >= 5
    assert counter["latency"]["p99_us"] >= counter["latency"]["p50_us"] > 0


SAMPLE = re.compile(r'^[a-z_]+(\{[a-z_]+="[^"\\]*"(,[a-z_]+="[^"\\]*")*\})? -?[0-9.e+-]+$')


def test_metrics_are_prometheus_text(engine, client):
    client.get("/")
    with httpx.Client(base_url=f"http://127.0.0.1:{engine.admin_port}") as admin:
        metrics = admin.get("/metrics")
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    lines = metrics.text.splitlines()
    for line in lines:
        assert line.startswith("# HELP ") or line.startswith("# TYPE ") or SAMPLE.match(line), line
    hello = [l for l in lines if l.startswith('mtd_requests_total{tenant="hello"}')]
    assert len(hello) == 1 and float(hello[0].split()[-1]) >= 1
    assert any(l.startswith("# TYPE mtd_requests_total counter") for l in lines)


def test_admin_paths_are_not_on_the_tenant_port(client):
    # On the tenant port these are ordinary paths, answered by the default tenant.
    for path in ("/metrics", "/stats"):
        assert client.get(path).content == SEED_PAGE


def test_stats_json_equals_the_python_view(engine, client):
    client.get("/")
    with httpx.Client(base_url=f"http://127.0.0.1:{engine.admin_port}") as admin:
        over_http = admin.get("/stats").json()
    names = [t["name"] for t in over_http]
    assert names == [t["name"] for t in engine.stats()]
    # Idle tenants are identical; the ones in use only moved forward.
    python_view = {t["name"]: t for t in engine.stats()}
    for tenant in over_http:
        assert tenant["requests"] <= python_view[tenant["name"]]["requests"]
        assert set(tenant) == set(python_view[tenant["name"]])


def test_admin_rejects_other_paths_and_methods(engine):
    with httpx.Client(base_url=f"http://127.0.0.1:{engine.admin_port}") as admin:
        assert admin.get("/nope").status_code == 404
        assert admin.post("/stats").status_code == 405
        head = admin.head("/metrics")
        assert head.status_code == 200 and head.content == b""


def test_admin_listens_on_loopback_only(engine):
    # 127.0.0.2 is loopback too, but not the address the admin socket bound.
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.2:{engine.admin_port}/stats", timeout=2)


def test_latency_histogram_counts_every_request(engine):
    from mtd.engine.loadtest import LoadTest, LoadTestSpec
    before = next(t for t in engine.stats() if t["name"] == "counter")
    LoadTest(engine, LoadTestSpec(tenant="counter", requests=300, duration=0, connections=2,
                                  threads=1)).start().wait()
    after = next(t for t in engine.stats() if t["name"] == "counter")
    assert after["requests"] - before["requests"] == 300
    assert after["latency"]["count"] - before["latency"]["count"] == 300
    assert after["sandbox_latency"]["count"] - before["sandbox_latency"]["count"] == 300


def test_health_and_readiness(engine):
    with httpx.Client(base_url=f"http://127.0.0.1:{engine.admin_port}") as admin:
        health = admin.get("/healthz")
        assert (health.status_code, health.text) == (200, "ok\n")
        ready = admin.get("/readyz")
        assert ready.status_code == 200
        assert ready.text == "ready: 4 tenant(s) serving\n"
        engine.server.set_ready(False, "testing")
        try:
            assert (admin.get("/readyz").status_code, admin.get("/readyz").text) == (
                503, "not ready: testing\n")
            assert admin.get("/healthz").status_code == 200  # alive all the same
        finally:
            engine._update_readiness()
        assert admin.get("/readyz").status_code == 200


def test_unmatched_hosts_are_listed_as_no_tenant_and_latency_keys_say_their_unit(engine, client):
    with httpx.Client(base_url=f"http://127.0.0.1:{engine.admin_port}") as admin:
        stats = admin.get("/stats").json()
    assert stats[0]["name"] == "(no tenant)" and "" not in [t["name"] for t in stats]
    hello = next(t for t in stats if t["name"] == "hello")
    assert set(hello["latency"]) == {"count", "p50_us", "p90_us", "p99_us", "p999_us", "max_us",
                                     "mean_us"}
    assert set(hello["sandbox_latency"]) == set(hello["latency"])


def test_stats_and_metrics_say_each_tenants_tier(engine):
    """The engine's tier reaches /stats and /metrics (one 1 among the
    tiers); the unrouted entry has none."""
    with httpx.Client(base_url=f"http://127.0.0.1:{engine.admin_port}") as admin:
        stats = {t["name"]: t for t in admin.get("/stats").json()}
        metrics = admin.get("/metrics").text.splitlines()
    assert stats["(no tenant)"]["tier"] is None
    for name, status in engine.tenants.items():
        if not status.version:
            continue
        assert stats[name]["tier"] == status.tier == "interpreted"  # no translation in this engine
        tiers = {re.search(r'tier="([a-z]+)"', l).group(1): l.split()[-1]
                 for l in metrics if l.startswith(f'mtd_tenant_tier{{tenant="{name}",')}
        assert tiers == {"optimising": "0", "interpreted": "1", "translating": "0",
                         "translated": "0", "failed": "0"}
    assert not any('tenant="(no tenant)"' in l for l in metrics if l.startswith("mtd_tenant_tier"))
    with pytest.raises(ValueError):
        engine.server.set_tier("hello", "warp speed")
