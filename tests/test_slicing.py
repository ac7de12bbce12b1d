"""Time slicing: a request longer than one slice is parked and continued
between other requests (cpp/sandbox/slice.hpp, cpp/server/request_handler).
Slicing must change nothing the guest can observe, must keep a worker
serving its other connections while a long or hostile request runs there,
and must shed long requests past the parking caps with 503.

Every engine here has one worker thread, so the attacker and its neighbour
always share it."""

from __future__ import annotations

import os
import shutil
import threading
import time

import httpx
import pytest

from conftest import SEED_PAGE, TENANTS, make_engine
from test_limits import GUEST_TENANTS, add_tenant, tenant_stats

LONG = {"Host": "long.test"}
HOSTILE = {"Host": "hostile.test"}

# Budgets far above the defaults, so that the long requests run for a good
# fraction of a second to seconds (~300 M guest instructions/s).
LONG_TOML = ('hosts = ["long.test"]\n[limits]\nrequest_instructions = 100000000\n'
             'request_memory = 268435456\n')
# The malloc bomb's 512 MiB (~0.3 s) keeps it running long after its
# neighbour's request, even under the sanitizers' slower page handling.
HOSTILE_TOML = ('hosts = ["hostile.test"]\n[limits]\nrequest_instructions = 400000000\n'
                'request_memory = 536870912\nresponse_bytes = 1048576\n')


def tenants_dir(root):
    shutil.copytree(TENANTS / "hello", root / "hello")
    add_tenant(root, "long", (GUEST_TENANTS / "long_request.cpp").read_text(), toml=LONG_TOML)
    add_tenant(root, "hostile", (GUEST_TENANTS / "hostile.cpp").read_text(), toml=HOSTILE_TOML)
    return root


@pytest.fixture(scope="module")
def slicing_root(tmp_path_factory):
    return tenants_dir(tmp_path_factory.mktemp("slicing"))


def start_engine(root, cache_dir, **overrides):
    engine = make_engine(root, cache_dir, threads=1, **overrides)
    engine.start()
    return engine


@pytest.fixture(scope="module")
def sliced(slicing_root, cache_dir):
    engine = start_engine(slicing_root, cache_dir, max_parked=3, max_parked_per_tenant=2)
    yield engine
    engine.stop()


@pytest.fixture(scope="module")
def unsliced(slicing_root, cache_dir):
    engine = start_engine(slicing_root, cache_dir, max_parked=0)
    yield engine
    engine.stop()


def client(engine):
    return httpx.Client(base_url=f"http://127.0.0.1:{engine.port}", timeout=60.0)


def wait_until(predicate, seconds=10.0, what="condition"):
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.002)


def fnv(n: int) -> int:
    h = 14695981039346656037
    for i in range(n):
        h = ((h ^ i) * 1099511628211) % (1 << 64)
    return h


# path -> (what the guest must compute, or None to compare only; the most
# instructions it may take). Below 25,000 instructions (one slice's worth)
# something else must end its slices: pages charged, or ecalls.
LONG_REQUESTS = {
    "/spin?3000000": (fnv(3_000_000), None),                # ~480 instruction slices
    "/pages?2000": (sum(i % 256 for i in range(2000)), 25_000),  # 2,000 pages: 16 page quotas
    "/syscalls?3000": (None, 25_000),                       # 3,000 ecalls of 16 each
    "/fields?3000": (3000 * len("/fields"), 25_000),
}


@pytest.mark.parametrize("path", sorted(LONG_REQUESTS))
def test_slicing_changes_nothing_the_guest_sees(sliced, unsliced, path):
    """The same value and the same instruction count (the guest's own
    instret), however many slices the request was cut into; and only the
    sliced engine parked it."""
    expected, most = LONG_REQUESTS[path]
    answers = {}
    for name, engine in (("sliced", sliced), ("unsliced", unsliced), ("sliced again", sliced)):
        parked = tenant_stats(engine, "long")["parked"]
        with client(engine) as c:
            r = c.get(path, headers=LONG)
        assert r.status_code == 200, r.text
        answers[name] = r.text
        moved = tenant_stats(engine, "long")["parked"] - parked
        assert moved == (0 if name == "unsliced" else 1), name
    assert answers["sliced"] == answers["unsliced"] == answers["sliced again"]
    value, instructions = map(int, answers["sliced"].split())
    if expected is not None:
        assert value == expected
    if most is not None:
        assert instructions < most


def test_headers_are_there_for_a_request_that_reads_them_late(sliced, unsliced):
    """The server serialises the headers only when a guest asks for them;
    a parked request asks on the long-request thread, from its own copy."""
    for engine in (sliced, unsliced):
        parked = tenant_stats(engine, "long")["parked"]
        with client(engine) as c:
            r = c.get("/headers?200000", headers={**LONG, "X-Probe": "late"})
        assert r.status_code == 200, r.text
        assert "host: long.test\n" in r.text and "x-probe: late\n" in r.text
        assert tenant_stats(engine, "long")["parked"] - parked == (1 if engine is sliced else 0)


def test_slow_system_calls_end_a_slice(sliced, unsliced):
    """40 mmap calls of 64 MiB each: ~2,000 instructions, but each call
    takes long enough that the clock ends the slice."""
    answers = []
    for engine in (sliced, unsliced):
        parked = tenant_stats(engine, "hostile")["parked"]
        with client(engine) as c:
            r = c.get("/mmap-reserve", headers=HOSTILE)
        assert r.status_code == 200 and r.text.startswith("mapped "), r.text
        answers.append(r.text)
        assert tenant_stats(engine, "hostile")["parked"] - parked == (1 if engine is sliced else 0)
    assert answers[0] == answers[1]


class Attack(threading.Thread):
    """One request in the background; `done_at` is when its answer came."""

    def __init__(self, engine, path, headers=HOSTILE):
        super().__init__(daemon=True)
        self.engine, self.path, self.headers = engine, path, headers
        self.response = self.error = None
        self.started_at = self.done_at = None

    def run(self):
        self.started_at = time.monotonic()
        try:
            with client(self.engine) as c:
                self.response = c.get(self.path, headers=self.headers)
        except httpx.HTTPError as e:
            self.error = e
        self.done_at = time.monotonic()


def neighbour_request(engine) -> float:
    """Sends one hello request; when its answer came."""
    with client(engine) as c:
        assert c.get("/").content == SEED_PAGE
    return time.monotonic()


# attack -> (status, error counter); what uses up its slices: instructions,
# pages charged, and system calls (a write each, to the tenant's log).
WORKER_ATTACKS = {"/loop": (504, "budget"), "/malloc": (507, "memory"), "/print-flood": (504, "budget")}


@pytest.mark.parametrize("path", sorted(WORKER_ATTACKS))
def test_long_request_leaves_its_worker_serving(sliced, path):
    status, counter = WORKER_ATTACKS[path]
    neighbour_request(sliced)  # warm: a tenant's first request decodes its code
    before = tenant_stats(sliced, "hostile")
    attack = Attack(sliced, path)
    attack.start()
    wait_until(lambda: tenant_stats(sliced, "hostile")["parked"] > before["parked"], what="the attack to park")
    # One request (about a millisecond): the attack runs on beside it, on
    # the long-request thread, and the shortest (the malloc bomb) takes ~0.3 s.
    served_at = neighbour_request(sliced)
    attack.join(60)
    assert attack.response is not None, attack.error
    assert attack.response.status_code == status
    # The neighbour shares the only worker, and was served while it ran.
    assert served_at < attack.done_at
    after = tenant_stats(sliced, "hostile")
    assert after["errors"][counter] == before["errors"][counter] + 1
    assert after["in_flight"] == 0


def test_without_slicing_a_long_request_holds_its_worker(unsliced):
    """What max_parked=0 means, and what the test above would see without
    slicing: the neighbour waits until the loop has used its whole budget."""
    with client(unsliced) as c:  # warm: the first request of a tenant is slower
        assert c.get("/ok", headers=HOSTILE).status_code == 200
    attack = Attack(unsliced, "/loop")
    attack.start()
    wait_until(lambda: tenant_stats(unsliced, "hostile")["in_flight"] > 0, what="the attack to start")
    served_at = neighbour_request(unsliced)
    attack.join(60)
    assert attack.response.status_code == 504
    # Both answers leave the one worker back to back, so the two client
    # threads may read them in either order: allow a little slack, far
    # smaller than the ~0.7 s the loop holds the worker.
    slack = 0.02
    assert attack.done_at - attack.started_at > 10 * slack
    assert served_at > attack.done_at - slack


def test_parking_caps_shed_long_requests_with_503(sliced):
    """max_parked_per_tenant=2: a third long request of the same tenant is
    shed after its first slice; another tenant may still park (max_parked=3);
    short requests are never shed."""
    before = tenant_stats(sliced, "hostile")
    attacks = [Attack(sliced, "/loop") for _ in range(2)]
    for a in attacks:
        a.start()
    wait_until(lambda: tenant_stats(sliced, "hostile")["parked"] >= before["parked"] + 2,
               what="two attacks to park")
    with client(sliced) as c:
        shed = c.get("/loop", headers=HOSTILE)
        assert shed.status_code == 503
        assert shed.text.startswith("mtd: overloaded: too many long-running requests")
        assert shed.headers["retry-after"] == "1"
        assert c.get("/ok", headers=HOSTILE).text == "fine\n"  # fits in a slice
        other = c.get("/spin?200000", headers=LONG)
        assert other.status_code == 200 and int(other.text.split()[0]) == fnv(200_000)
    for a in attacks:
        a.join(60)
        assert a.response.status_code == 504
    after = tenant_stats(sliced, "hostile")
    assert after["errors"]["overloaded"] == before["errors"]["overloaded"] + 1
    assert after["errors"]["budget"] == before["errors"]["budget"] + 2


V2 = ('#include "mtd_guest.h"\n'
      'int main() { if (mtd_ready() != 0) return 0; mtd_respond(200, "text/plain", 10, "v2\\n", 3); }\n')


def test_hot_swap_while_parked(tmp_path, cache_dir):
    """A parked request finishes on the version it started on, while the
    next requests already get the new one."""
    from mtd.engine.tenants import load_tenant
    root = tmp_path / "tenants"
    root.mkdir()
    folder = add_tenant(root, "long", V2, toml=LONG_TOML.replace("100000000", "1000000000"))
    engine = start_engine(root, cache_dir)
    try:
        engine.builder.build(load_tenant(folder))  # so that the swap below loads from the cache
        (folder / "app.cpp").write_text((GUEST_TENANTS / "long_request.cpp").read_text())
        engine.reload("long")
        attack = Attack(engine, "/spin?100000000", headers=LONG)  # ~1 s
        attack.start()
        wait_until(lambda: tenant_stats(engine, "long")["parked"] > 0, what="the request to park")
        (folder / "app.cpp").write_text(V2)
        engine.reload("long")
        with client(engine) as c:
            assert c.get("/", headers=LONG).text == "v2\n"
        assert tenant_stats(engine, "long")["in_flight"] == 1  # still running, on version 1
        attack.join(60)
        assert attack.response.status_code == 200
        value, instructions = map(int, attack.response.text.split())
        assert instructions > 100_000_000
    finally:
        engine.stop()


def test_stopping_answers_parked_requests(tmp_path, cache_dir):
    root = tmp_path / "tenants"
    root.mkdir()
    add_tenant(root, "hostile", (GUEST_TENANTS / "hostile.cpp").read_text(),
               toml='hosts = ["hostile.test"]\n[limits]\nrequest_instructions = 1000000000\n')
    engine = start_engine(root, cache_dir)
    attack = Attack(engine, "/loop")  # seconds of budget, the most a tenant may have
    attack.start()
    wait_until(lambda: tenant_stats(engine, "hostile")["parked"] > 0, what="the attack to park")
    started = time.monotonic()
    engine.stop()
    assert time.monotonic() - started < 10
    attack.join(10)
    assert attack.response is not None, attack.error
    assert attack.response.status_code == 503
    assert attack.response.text == "mtd: overloaded: the server is stopping\n"


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl (apt-get install curl) for HTTP/2")
def test_parked_request_is_dropped_when_its_stream_goes(sliced):
    """HTTP/2: a client that gives up resets its stream, H2O disposes of the
    request, and the parked guest stops at its next slice instead of running
    out its budget (about a second here). HTTP/1 gives no such signal: H2O
    does not read a connection while its request is being handled."""
    import subprocess
    before = tenant_stats(sliced, "hostile")
    # Not with ./mtd sanitize's LD_PRELOAD: curl with the ASan runtime
    # preloaded never honours --max-time.
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    curl = subprocess.run(["curl", "-s", "-o", "/dev/null", "--http2-prior-knowledge", "--max-time", "0.3",
                           "-H", "Host: hostile.test", f"http://127.0.0.1:{sliced.port}/loop"], env=env, timeout=30)
    assert curl.returncode == 28  # curl's "operation timed out": it gave up
    wait_until(lambda: tenant_stats(sliced, "hostile")["in_flight"] == 0, seconds=0.5,
               what="the parked request to be dropped")
    after = tenant_stats(sliced, "hostile")
    assert after["parked"] == before["parked"] + 1
    assert after["errors"] == before["errors"]  # dropped, not run out
    assert neighbour_request(sliced)


def test_long_requests_run_at_the_lowest_cpu_priority(sliced):
    """The runner thread is SCHED_IDLE (cpp/server/low_priority.hpp), so a
    busy core always goes to the workers first; they stay SCHED_OTHER."""
    import os
    policies = [os.sched_getscheduler(int(tid)) for tid in os.listdir("/proc/self/task")]
    assert policies.count(os.SCHED_IDLE) >= 1  # the worker's runner
    assert os.SCHED_OTHER in policies
