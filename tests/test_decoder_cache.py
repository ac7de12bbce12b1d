"""The lazy decoder cache and the per-tenant memory it saves: decoding on
first execution must change nothing a guest or a limit can observe (same
output, same instruction counts, same budget stops), also when several
worker threads execute a program's code for the first time at once."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import pytest

from mtd import _core

from conftest import GUEST_PROGRAMS, make_engine
from test_limits import GUEST_TENANTS, add_tenant

FIELDS = ("outcome", "reason", "exit_code", "stdout", "stderr", "instructions")


def run_both(elf: Path, **kwargs) -> tuple[dict, dict]:
    image = elf.read_bytes()
    lazy = _core.run_elf(image, **kwargs)
    eager = _core.run_elf(image, eager_decode=True, **kwargs)
    return lazy, eager


@pytest.mark.parametrize("program", sorted(p.stem for p in GUEST_PROGRAMS.iterdir()))
def test_lazy_decoding_runs_guest_programs_like_eager(compiled_programs, program):
    lazy, eager = run_both(compiled_programs[program])
    assert lazy["outcome"] == "exited"
    assert {k: lazy[k] for k in FIELDS} == {k: eager[k] for k in FIELDS}
    assert eager["decoded_units"] == eager["text_units"]
    assert 0 < lazy["decoded_units"] < lazy["text_units"]


@pytest.mark.parametrize("tenant", ["hello", "counter", "api", "mandelbrot"])
def test_lazy_decoding_runs_tenants_like_eager(bundled_elves, tenant):
    lazy, eager = run_both(bundled_elves[tenant])
    assert {k: lazy[k] for k in FIELDS} == {k: eager[k] for k in FIELDS}
    # Most of a tenant's static glibc (and libstdc++) never runs.
    assert lazy["decoded_units"] * 2 < lazy["text_units"]


@pytest.mark.parametrize("budget", [1, 2, 3, 10, 1_000, 12_345, 654_321, 5_000_000])
def test_budget_stops_at_the_same_instruction(compiled_programs, budget):
    lazy, eager = run_both(compiled_programs["compute"], max_instructions=budget)
    assert lazy["outcome"] == eager["outcome"] == "budget"
    assert lazy["instructions"] == eager["instructions"]
    assert lazy["reason"] == eager["reason"]


def cold_path_tenant(root: Path, builder) -> tuple[Path, bytes]:
    """The cold_path tenant under root, and its /cold answer run eagerly as
    a plain process (decoded up front, one thread)."""
    folder = add_tenant(root, "cold", (GUEST_TENANTS / "cold_path.cpp").read_text(),
                        toml='hosts = ["cold.test"]\n')
    from mtd.engine.tenants import load_tenant
    elf = builder.build(load_tenant(folder)).elf
    reference = _core.run_elf(elf.read_bytes(), eager_decode=True)
    assert reference["outcome"] == "exited", reference["reason"]
    return elf, reference["stdout"]


def test_concurrent_first_execution_is_exact(tmp_path, cache_dir, builder):
    """Several worker threads run never-decoded code of one program at the
    same moment, for several freshly loaded programs: every answer, which
    includes the guest's own instruction count, equals the eager one."""
    _, expected = cold_path_tenant(tmp_path, builder)
    engine = make_engine(tmp_path, cache_dir, threads=4)
    engine.start()
    try:
        base = f"http://127.0.0.1:{engine.port}"
        for _ in range(5):
            engine.reload("cold")  # a new Program: nothing of /cold decoded yet
            gate = threading.Barrier(8)
            answers: list[bytes] = []

            def client() -> None:
                with httpx.Client(base_url=base, timeout=30) as c:
                    c.get("/", headers={"Host": "cold.test"})  # connected before the gate
                    gate.wait()
                    for _ in range(3):
                        r = c.get("/cold", headers={"Host": "cold.test"})
                        answers.append(r.content if r.status_code == 200 else r.text.encode())

            threads = [threading.Thread(target=client) for _ in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert answers == [expected] * 24
    finally:
        engine.stop()


def test_warm_up_request_is_invisible(tmp_path, cache_dir, builder):
    """Each load runs one request ("/") ahead so the first real one finds its
    code decoded: it must not show in the tenant's log or its stats."""
    cold_path_tenant(tmp_path, builder)
    engine = make_engine(tmp_path, cache_dir)
    engine.start()
    try:
        engine.reload("cold")
        assert [r.text for r in engine.drain_logs() if r.kind == "guest"] == []
        with httpx.Client(base_url=f"http://127.0.0.1:{engine.port}", timeout=30) as c:
            assert c.get("/", headers={"Host": "cold.test"}).text == "warm\n"
        assert [r.text for r in engine.drain_logs() if r.kind == "guest"] == ["serving /"]
        stats = {s["name"]: s for s in engine.stats()}
        assert stats["cold"]["requests"] == 1
    finally:
        engine.stop()
