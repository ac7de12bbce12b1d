"""What a worker keeps between requests is capped, whatever the tenants do.
A Machine keeps the pages a request copied so that the next request of the
same tenant can reuse them; a tenant that writes different pages on every
request once made it keep all of them (a 30-request attack grew a server
from 127 MiB to 2 GiB). Now at most Memory::kMaxKeptBytes (8 MiB, and no
more than the tenant's request_memory) stays, and a spare Machine keeps
nothing."""

import shutil
from pathlib import Path

import httpx
import psutil
import pytest

from mtd import _core

from conftest import compile_guest, make_engine

GUEST_TENANTS = Path(__file__).resolve().parent / "guest_tenants"
MiB = 1 << 20


def rss() -> int:
    return psutil.Process().memory_info().rss


@pytest.fixture(scope="module")
def grower_elf(tmp_path_factory) -> bytes:
    return compile_guest(tmp_path_factory.mktemp("grower"), "page_grower",
                         (GUEST_TENANTS / "page_grower.cpp").read_text(), cpp=True)


def grower(elf: bytes, request_memory: int) -> _core.Program:
    limits = _core.Limits()
    limits.request_memory = request_memory
    limits.request_instructions = 50_000_000
    return _core.Program(elf, limits)


@pytest.mark.parametrize("pages,stride", [(4096, 1), (512, 128)])
def test_a_machine_keeps_a_bounded_amount_across_requests(grower_elf, pages, stride):
    """40 requests, each writing 16 MiB of pages (or 2 MiB spread one page
    per 512 KiB, which also spreads the kept-page bookkeeping) nobody wrote
    before: without the cap the Machine kept all of them (640 / 80 MiB)."""
    program, machine = grower(grower_elf, 32 * MiB), _core.Machine()
    machine.request(program, path=f"/grow/0/{pages}/{stride}")  # warm: the first request's own cost
    before = rss()
    for window in range(1, 41):
        result = machine.request(program, path=f"/grow/{window}/{pages}/{stride}")
        assert result["outcome"] == "responded", result
    # The last request's own pages and bookkeeping, plus what is kept.
    assert rss() - before <= 2 * pages * 4096 + 2 * 8 * MiB + 8 * MiB


def test_the_cap_is_at_most_the_tenants_own_memory_limit(grower_elf):
    """A tenant limited to 1 MiB per request keeps at most that: 200
    requests of 1 MiB of new pages leave the Machine near where it began."""
    program, machine = grower(grower_elf, 1 * MiB + 64 * 1024), _core.Machine()
    machine.request(program, path="/grow/0/256/1")
    before = rss()
    for window in range(1, 201):
        assert machine.request(program, path=f"/grow/{window}/256/1")["outcome"] == "responded"
    assert rss() - before <= 6 * MiB


def test_a_recycled_machine_keeps_nothing(grower_elf):
    program, machines = grower(grower_elf, 64 * MiB), [_core.Machine() for _ in range(8)]
    before = rss()
    for window, machine in enumerate(machines):
        assert machine.request(program, path=f"/grow/{window}/8192/1")["outcome"] == "responded"
        machine.recycle()
    assert rss() - before <= 16 * MiB  # 8 x 32 MiB before recycle() gave it back


@pytest.mark.parametrize("max_parked", [0, 16])
def test_server_rss_stays_bounded_under_a_page_grower(tmp_path, cache_dir, max_parked):
    """Through HTTP: each request writes 16 MiB of new pages. Without time
    slicing every one runs on the worker's own Machine; with it, each is
    longer than a slice, so it is parked and runs on spare Machines. Either
    way the server's RSS must not grow with the number of requests."""
    add = tmp_path / "grower"
    add.mkdir()
    shutil.copy(GUEST_TENANTS / "page_grower.cpp", add / "app.cpp")
    (add / "tenant.toml").write_text('hosts = ["grower.test"]\n[limits]\nrequest_memory = 33554432\n'
                                     'request_instructions = 50000000\n')
    engine = make_engine(tmp_path, cache_dir, threads=1, max_parked=max_parked)
    engine.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{engine.port}", timeout=30,
                          headers={"Host": "grower.test"}) as client:
            def grow(window):
                response = client.get(f"/grow/{window}/4096/1")
                assert response.status_code == 200, response.text
            for window in range(4):
                grow(window)
            before = rss()
            for window in range(4, 44):
                grow(window)
            grown = rss() - before
    finally:
        engine.stop()
    assert grown <= 64 * MiB, f"{grown / MiB:.0f} MiB after 40 x 16 MiB of new pages"
