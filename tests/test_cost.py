"""Per-tenant cost (issue 18): guest instructions per request (p50/p99),
pages copied, peak request memory, bytes in and out, in /stats, /metrics
and engine.stats(), checked against a tenant whose cost is known."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from mtd import _core
from mtd.engine.tenants import load_tenant

from conftest import make_engine
from test_limits import GUEST_TENANTS, add_tenant

REQUESTS = 20
BODY = b"x" * 1000


@pytest.fixture(scope="module")
def cost_engine(tmp_path_factory, cache_dir):
    root = tmp_path_factory.mktemp("cost-tenants")
    add_tenant(root, "fixed", (GUEST_TENANTS / "fixed_cost.cpp").read_text(),
               toml='hosts = ["fixed.test"]\n')
    engine = make_engine(root, cache_dir)
    engine.start()
    yield engine, root
    engine.stop()


def measured(engine, root: Path, path: str) -> dict:
    """One request of the tenant's ELF on a fresh Machine."""
    elf = engine.builder.build(load_tenant(root / "fixed")).elf.read_bytes()
    result = _core.Machine().request(_core.Program(elf), path=path)
    assert result["outcome"] == "responded"
    return result


def admin_json(engine) -> dict:
    with httpx.Client(base_url=f"http://127.0.0.1:{engine.admin_port}") as admin:
        return {t["name"]: t for t in admin.get("/stats").json()}


def test_instructions_per_request_are_the_measured_count(cost_engine):
    engine, root = cost_engine
    known = measured(engine, root, "/")["instructions"]
    assert known > 0
    with httpx.Client(base_url=f"http://127.0.0.1:{engine.port}", timeout=10) as c:
        for _ in range(REQUESTS):
            answer = c.post("/", headers={"Host": "fixed.test"}, content=BODY)
            assert answer.content == b"fixed cost\n"
    for view in (admin_json(engine)["fixed"], next(s for s in engine.stats() if s["name"] == "fixed")):
        cost = view["cost"]
        instructions = cost["instructions"]
        assert instructions["count"] == REQUESTS
        assert instructions["p50"] == instructions["p99"] == instructions["max"] == known
        assert instructions["mean"] == known
        assert cost["bytes_in"] == REQUESTS * len(BODY)
        assert cost["bytes_out"] == REQUESTS * len(b"fixed cost\n")
        assert set(view["errors"]) >= {"budget", "memory", "fault", "bad_response", "overloaded"}


def test_memory_and_pages_of_a_request_that_writes(cost_engine):
    engine, root = cost_engine
    known = measured(engine, root, "/touch")
    assert known["memory"] >= 64 * 1024
    with httpx.Client(base_url=f"http://127.0.0.1:{engine.port}", timeout=10) as c:
        for _ in range(5):
            assert c.get("/touch", headers={"Host": "fixed.test"}).content == b"touched\n"
    cost = admin_json(engine)["fixed"]["cost"]
    # Charged per request whatever the Machine kept: what the limit sees.
    assert cost["peak_memory_bytes"] == known["memory"]
    assert cost["pages_copied"] * 4096 >= known["copied"]
    assert cost["instructions"]["max"] == known["instructions"]


def test_cost_in_prometheus_metrics(cost_engine):
    engine, root = cost_engine
    with httpx.Client(base_url=f"http://127.0.0.1:{engine.port}", timeout=10) as c:
        c.get("/", headers={"Host": "fixed.test"})
    with httpx.Client(base_url=f"http://127.0.0.1:{engine.admin_port}") as admin:
        lines = admin.get("/metrics").text.splitlines()
    stats = admin_json(engine)["fixed"]["cost"]

    def value(prefix: str) -> float:
        hits = [l for l in lines if l.startswith(prefix)]
        assert len(hits) == 1, (prefix, hits)
        return float(hits[0].split()[-1])

    assert value('mtd_guest_instructions{tenant="fixed",quantile="0.5"}') == stats["instructions"]["p50"]
    assert value('mtd_guest_instructions_count{tenant="fixed"}') == stats["instructions"]["count"]
    assert value('mtd_request_memory_peak_bytes{tenant="fixed"}') == stats["peak_memory_bytes"]
    assert value('mtd_request_body_bytes_total{tenant="fixed"}') == stats["bytes_in"]
    assert value('mtd_response_body_bytes_total{tenant="fixed"}') == stats["bytes_out"]
    assert value('mtd_pages_copied_total{tenant="fixed"}') == stats["pages_copied"]
