"""Hostile HTTP clients against a real engine (hello tenant, loopback only):
malformed requests, oversize headers and bodies, slowloris, a pipelining
flood and two thousand idle connections, and the request timeout that cuts
slow and idle connections off. For each attack the server must stay
up, a well-behaved client must keep getting real answers while and after it
runs, and memory must stay bounded. Every loop is bounded in count and time.

The engine runs inside this process, so the RSS measured is the test
process's own (it includes the server's buffers and per-connection state)."""

from __future__ import annotations

import contextlib
import resource
import select
import shutil
import socket
import threading
import time

import httpx
import psutil
import pytest

from conftest import SEED_PAGE, TENANTS, make_engine

RSS_BOUND = 200 * 1024 * 1024  # growth allowed across one attack
MAX_BODY = 1 << 20  # ServerConfig::max_request_body


@pytest.fixture(scope="module")
def server(tmp_path_factory, cache_dir, bundled_elves):
    root = tmp_path_factory.mktemp("hostile-clients")
    shutil.copytree(TENANTS / "hello", root / "hello")
    engine = make_engine(root, cache_dir)
    engine.start()
    yield engine
    engine.stop()


def rss() -> int:
    return psutil.Process().memory_info().rss


def good_request(port: int) -> float:
    """One well-behaved request on a fresh connection; returns its latency."""
    t0 = time.monotonic()
    r = httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
    assert r.status_code == 200
    assert r.content == SEED_PAGE
    return time.monotonic() - t0


class GoodClient:
    """A polite client requesting every 50 ms in a thread while an attack runs."""

    def __init__(self, port: int):
        self.port = port
        self.ok = 0
        self.failures: list[str] = []
        self.worst = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        with httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=5) as c:
            while not self._stop.is_set():
                t0 = time.monotonic()
                try:
                    r = c.get("/")
                    if r.status_code == 200 and r.content == SEED_PAGE:
                        self.ok += 1
                    else:
                        self.failures.append(f"{r.status_code} {r.content[:80]!r}")
                except httpx.HTTPError as e:
                    self.failures.append(repr(e))
                self.worst = max(self.worst, time.monotonic() - t0)
                self._stop.wait(0.05)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        # Let it finish at least a couple of requests, even after a quick attack.
        deadline = time.monotonic() + 5
        while self.ok + len(self.failures) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        self._stop.set()
        self._thread.join(10)
        assert not self._thread.is_alive()
        if exc[0] is None:
            assert not self.failures, self.failures[:5]
            assert self.ok > 0
            assert self.worst < 3, f"good client waited {self.worst:.2f}s"


@pytest.fixture
def guarded(server):
    """Around each attack: the server answers before, and after it the server
    still answers and the process grew by less than RSS_BOUND."""
    good_request(server.port)
    before = rss()
    yield server
    for _ in range(3):
        good_request(server.port)
    growth = rss() - before
    print(f"RSS {before / 2**20:.0f} -> {(before + growth) / 2**20:.0f} MiB", end=" ")  # shown with -s
    assert growth < RSS_BOUND, f"RSS grew by {growth / 2**20:.0f} MiB"


def connect(port: int, timeout: float = 5) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def exchange(port: int, data: bytes, timeout: float = 5, quiet: float = 0.5) -> bytes:
    """Send raw bytes, then read until the server closes or goes quiet."""
    with connect(port, timeout) as s:
        with contextlib.suppress(OSError):  # the server may refuse mid-send
            s.sendall(data)
        return read_all(s, timeout, quiet)


def read_all(s: socket.socket, timeout: float, quiet: float = 1.0, until: bytes | None = None) -> bytes:
    chunks = []
    poller = select.poll()  # not select(): the fds of 1000 connections go past 1024
    poller.register(s, select.POLLIN)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not poller.poll(1000 * max(0.0, min(quiet, deadline - time.monotonic()))):
            break  # nothing more is coming for now
        try:
            chunk = s.recv(65536)
        except OSError:  # reset by the server
            break
        if not chunk:
            break
        chunks.append(chunk)
        if until is not None and b"".join(chunks).endswith(until):
            break
    return b"".join(chunks)


def status_of(answer: bytes) -> int | str | None:
    """Status of the first response, or None if the server just closed."""
    if not answer:
        return None
    if answer[3:4] == b"\x04" and b"\x07\x00\x00\x00\x00\x00" in answer:
        return "h2-goaway"  # HTTP/2 (prior knowledge): SETTINGS, then GOAWAY
    assert answer.startswith(b"HTTP/1.1 "), answer[:200]
    return int(answer[9:12])


CLOSED = None
GOOD = b"GET / HTTP/1.1\r\nHost: x\r\n"

# name -> (request bytes, statuses allowed; CLOSED = connection closed silently)
MALFORMED = {
    "garbage": (bytes(range(256)) * 4 + b"\r\n\r\n", {400, CLOSED}),
    "tls-hello-on-plain": (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\xaa" * 500, {400, CLOSED}),
    "bad-method": (b"G\x01T / HTTP/1.1\r\nHost: x\r\n\r\n", {400, CLOSED}),
    "missing-version": (b"GET /\r\nHost: x\r\n\r\n", {400, CLOSED}),
    "bad-version": (b"GET / HTTP/9.9\r\nHost: x\r\n\r\n", {400}),
    "missing-path": (b"GET HTTP/1.1\r\nHost: x\r\n\r\n", {400, CLOSED}),
    "header-without-colon": (GOOD + b"NoColonHere\r\n\r\n", {400, CLOSED}),
    "empty-header-name": (GOOD + b": value\r\n\r\n", {400, CLOSED}),
    "space-before-colon": (GOOD + b"X-A : b\r\n\r\n", {400}),
    "nul-in-path": (b"GET /\x00x HTTP/1.1\r\nHost: x\r\n\r\n", {400, CLOSED}),
    "nul-in-header-value": (GOOD + b"X-A: a\x00b\r\n\r\n", {400, CLOSED}),
    "nul-in-header-name": (GOOD + b"X-\x00A: b\r\n\r\n", {400, CLOSED}),
    "obs-fold": (GOOD + b"X-A: b\r\n  continued\r\n\r\n", {200, 400}),  # H2O 2.2 accepts it
    "bare-lf": (b"GET / HTTP/1.1\nHost: x\n\n", {200, 400, CLOSED}),
    "huge-header-line": (GOOD + b"X-Big: " + b"a" * 300_000 + b"\r\n\r\n", {200, 400, 413, 431, CLOSED}),
    "huge-path": (b"GET /" + b"p" * 300_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", {200, 400, 414, CLOSED}),
    "too-many-headers": (GOOD + b"".join(b"X-%d: v\r\n" % i for i in range(500)) + b"\r\n",
                         {400, 431, CLOSED}),
    "negative-content-length": (GOOD + b"Content-Length: -1\r\n\r\n", {400, CLOSED}),
    "garbage-content-length": (GOOD + b"Content-Length: 12abc\r\n\r\n", {400, CLOSED}),
    "bad-chunk-size": (GOOD.replace(b"GET", b"POST") + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n\r\n",
                       {400, CLOSED}),
    "chunked-and-length": (GOOD.replace(b"GET", b"POST") + b"Content-Length: 4\r\n"
                           b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\n\r\n",
                           {200, 400, CLOSED}),
    "h2-preface-then-garbage": (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\xff" * 64, {"h2-goaway"}),
    "h2c-upgrade-bad-settings": (GOOD + b"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
                                 b"HTTP2-Settings: !!!!\r\n\r\n", {101, 200, 400, CLOSED}),
    "only-crlf": (b"\r\n" * 1000, {400, CLOSED}),
}


@pytest.mark.timeout(20, func_only=True)
@pytest.mark.parametrize("name", list(MALFORMED))
def test_malformed_request(guarded, name):
    data, allowed = MALFORMED[name]
    with GoodClient(guarded.port):
        answers = [exchange(guarded.port, data) for _ in range(3)]
    for answer in answers:
        assert status_of(answer) in allowed, answer[:300]
        # A 4xx ends the connection: nothing after it may be parsed as a
        # second request (no smuggling through a bad first one).
        assert answer.count(b"HTTP/1.1 ") <= 1 or status_of(answer) == 200


@pytest.mark.timeout(30, func_only=True)
def test_megabyte_of_headers(guarded):
    """1 MB of headers in 1 KB lines: refused, connection closed, nothing buffered for long."""
    head = GOOD + b"".join(b"X-Pad-%04d: %s\r\n" % (i, b"v" * 1000) for i in range(1000)) + b"\r\n"
    assert len(head) > 1_000_000
    with GoodClient(guarded.port):
        for _ in range(5):
            assert status_of(exchange(guarded.port, head, timeout=10)) in {400, 413, 431, CLOSED}


def request_head(length_header: bytes) -> bytes:
    return b"POST / HTTP/1.1\r\nHost: x\r\n" + length_header + b"\r\n"


@pytest.mark.timeout(30, func_only=True)
def test_oversize_bodies_get_413(guarded):
    port = guarded.port
    with GoodClient(port):
        # Declared too large: refused from the headers alone.
        for declared in (MAX_BODY + 1, 10 * MAX_BODY, 10**18):
            answer = exchange(port, request_head(b"Content-Length: %d\r\n" % declared))
            assert status_of(answer) == 413, answer[:300]
        # Actually sent: 2 MiB with a Content-Length, and chunked.
        body = b"b" * (2 * MAX_BODY)
        answer = exchange(port, request_head(b"Content-Length: %d\r\n" % len(body)) + body)
        assert status_of(answer) == 413, answer[:300]
        chunks = b"".join(b"%x\r\n%s\r\n" % (64 * 1024, b"c" * 64 * 1024) for _ in range(32)) + b"0\r\n\r\n"
        answer = exchange(port, request_head(b"Transfer-Encoding: chunked\r\n") + chunks)
        assert status_of(answer) == 413, answer[:300]
        # Just under the limit is served.
        body = b"b" * (MAX_BODY - 1024)
        answer = exchange(port, request_head(b"Content-Length: %d\r\n" % len(body)) + body)
        assert status_of(answer) == 200, answer[:300]
        assert answer.endswith(SEED_PAGE)


@pytest.mark.timeout(30, func_only=True)
def test_slowloris(guarded):
    """300 connections each dribbling one header byte every 100 ms for 3 s."""
    port = guarded.port
    conns = []
    try:
        for _ in range(300):
            s = connect(port)
            s.sendall(b"GET / HTTP/1.1\r\n")
            conns.append(s)
        drip = b"X-Slow: " + b"s" * 64
        latencies = []
        with GoodClient(port):
            for tick in range(30):
                t0 = time.monotonic()
                for s in conns:
                    with contextlib.suppress(OSError):
                        s.send(drip[tick % len(drip):][:1])
                if tick % 5 == 0:
                    latencies.append(good_request(port))
                time.sleep(max(0.0, 0.1 - (time.monotonic() - t0)))
        assert max(latencies) < 2, latencies
        # The slow requests are still being read, not wedged: finishing one
        # gets it answered.
        s = conns[0]
        s.sendall(b"\r\n\r\n")
        assert status_of(read_all(s, timeout=5, until=SEED_PAGE)) == 200
    finally:
        for s in conns:
            s.close()


def parse_responses(data: bytes, methods: list[str]) -> int:
    """Checks data is the responses to `methods` in order (a prefix, if the
    server closed early); returns how many complete responses it holds."""
    pos = 0
    for n, method in enumerate(methods):
        end = data.find(b"\r\n\r\n", pos)
        if end < 0:
            return n
        head = data[pos:end].decode("latin-1")
        assert head.startswith("HTTP/1.1 200"), head
        length = next(int(line.split(":", 1)[1]) for line in head.split("\r\n")[1:]
                      if line.lower().startswith("content-length:"))
        assert length == len(SEED_PAGE)
        body_len = 0 if method == "HEAD" else length
        if end + 4 + body_len > len(data):
            return n
        assert data[end + 4:end + 4 + body_len] == (b"" if method == "HEAD" else SEED_PAGE)
        pos = end + 4 + body_len
    assert pos == len(data), "bytes after the last response"
    return len(methods)


@pytest.mark.timeout(40, func_only=True)
def test_pipelining_flood(guarded):
    """5000 pipelined requests (every third a HEAD) written in one go on one
    connection: answered in order, or the connection closed; never a crash."""
    count = 5000
    methods = ["HEAD" if i % 3 == 0 else "GET" for i in range(count)]
    flood = b"".join(b"%s / HTTP/1.1\r\nHost: x\r\n\r\n" % m.encode() for m in methods)
    received = []
    with GoodClient(guarded.port), connect(guarded.port, timeout=20) as s:
        def reader():
            received.append(read_all(s, timeout=20, quiet=3))
        t = threading.Thread(target=reader)
        t.start()
        with contextlib.suppress(OSError):
            s.sendall(flood)
        t.join(25)
        assert not t.is_alive()
    answered = parse_responses(received[0], methods)
    assert answered == count or answered > 0, f"{answered} of {count} answered"
    assert answered == count  # H2O 2.2 answers them all (kept strict to notice a change)


IDLE = 2000


@pytest.mark.timeout(60, func_only=True)
def test_two_thousand_idle_connections(guarded):
    port = guarded.port
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = 2 * IDLE + 200  # both ends live in this process
    if soft < need:
        if hard != resource.RLIM_INFINITY and hard < need:
            pytest.skip(f"RLIMIT_NOFILE hard limit {hard} < {need}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
    conns = []
    try:
        with GoodClient(port):
            deadline = time.monotonic() + 30
            for i in range(IDLE):
                assert time.monotonic() < deadline
                s = connect(port)
                if i % 2:  # half of them also leave a request half-sent
                    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
                conns.append(s)
            for _ in range(10):
                good_request(port)
            time.sleep(1)
        # They were accepted and are being served: a sample completes (all
        # sent at once: H2O closes a connection that takes 10 s to send its
        # request, which some would reach if they waited their turn).
        sample = list(range(0, IDLE, 97)) + list(range(1, IDLE, 97))
        for i in sample:
            conns[i].sendall(b"\r\n" if i % 2 else b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        for i in sample:
            s = conns[i]
            answer = read_all(s, timeout=5, quiet=0.5, until=SEED_PAGE)
            assert status_of(answer) == 200 and answer.endswith(SEED_PAGE), (i, answer[:200])
    finally:
        for s in conns:
            s.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


TIMEOUT = 1.5  # the request timeout of the engine below


@pytest.fixture(scope="module")
def short_timeout_server(tmp_path_factory, cache_dir, bundled_elves):
    root = tmp_path_factory.mktemp("short-timeout")
    shutil.copytree(TENANTS / "hello", root / "hello")
    engine = make_engine(root, cache_dir, request_timeout=TIMEOUT)
    engine.start()
    yield engine
    engine.stop()


@pytest.mark.timeout(30, func_only=True)
def test_request_timeout_cuts_off_slow_and_idle_connections(short_timeout_server):
    """Slowloris connections still dripping header bytes, connections that
    never send a byte and keep-alive connections idle after a response are
    all closed by the server once the request timeout has passed (counted
    from the accept, or from the last response), while a good client is
    served throughout."""
    port = short_timeout_server.port
    opened: dict[socket.socket, tuple[str, float]] = {}  # socket -> (kind, its clock's start)
    closed: dict[socket.socket, float] = {}  # socket -> seconds after its clock's start
    try:
        for _ in range(20):
            s = connect(port)
            s.sendall(b"GET / HTTP/1.1\r\n")
            opened[s] = ("dripping", time.monotonic())
            opened[connect(port)] = ("silent", time.monotonic())
            s = connect(port)
            s.sendall(GOOD + b"\r\n")
            assert read_all(s, timeout=5, until=SEED_PAGE).endswith(SEED_PAGE)
            opened[s] = ("idle-after-response", time.monotonic())
        poller = select.poll()
        by_fd = {s.fileno(): s for s in opened}
        for s in opened:
            poller.register(s, select.POLLIN)
        drip = b"X-Slow: " + b"s" * 64
        deadline = time.monotonic() + 3 * TIMEOUT + 2
        with GoodClient(port):
            tick = 0
            while len(closed) < len(opened) and time.monotonic() < deadline:
                # One byte per dripping connection every 100 ms: never a
                # complete head, always "making progress".
                for s, (kind, _) in opened.items():
                    if kind == "dripping" and s not in closed:
                        with contextlib.suppress(OSError):
                            s.send(drip[tick % len(drip):][:1])
                tick += 1
                until = time.monotonic() + 0.1
                while (left := until - time.monotonic()) > 0:
                    for fd, _ in poller.poll(1000 * left):
                        s = by_fd[fd]
                        try:
                            data = s.recv(65536)
                        except OSError:
                            data = b""
                        if not data:  # anything sent before the close is read and dropped
                            closed[s] = time.monotonic() - opened[s][1]
                            poller.unregister(s)
        for kind in ("dripping", "silent", "idle-after-response"):
            times = sorted(closed.get(s, -1.0) for s, (k, _) in opened.items() if k == kind)
            assert -1.0 not in times, f"{kind}: still open after {3 * TIMEOUT + 2}s: {times}"
            assert TIMEOUT * 0.9 <= times[0] and times[-1] <= TIMEOUT * 3, (kind, times)
        good_request(port)
    finally:
        for s in opened:
            s.close()


@pytest.mark.parametrize("http2", [False, True], ids=["http1", "http2"])
@pytest.mark.parametrize("port_name", ["port", "admin_port"])
def test_the_server_does_not_name_its_library(server, port_name, http2):
    """`Server: mtd` on both ports and both protocols, never the library and
    its version (h2o/2.2.5): that tells an attacker which bugs to try."""
    import subprocess
    argv = ["curl", "-s", "-o", "/dev/null", "-D", "-", "--max-time", "10",
            *(["--http2-prior-knowledge"] if http2 else []),
            f"http://127.0.0.1:{getattr(server, port_name)}/healthz"]
    head = subprocess.run(argv, capture_output=True, timeout=30).stdout.lower()
    assert head.startswith(b"http/2 " if http2 else b"http/1.1 "), head
    assert b"\r\nserver: mtd\r\n" in head and b"h2o" not in head, head
