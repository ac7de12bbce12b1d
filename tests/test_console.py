"""`mtd-console --no-tui`: builds the tenants, serves, prints a stats line
per second, and stops cleanly on SIGTERM and SIGINT."""

import os
import re
import signal
import subprocess
import sys
import time

import httpx
import pytest

from conftest import SEED_PAGE, TENANTS


def start_console(cache_dir, *extra):
    argv = [sys.executable, "-m", "mtd.tui.main", "--no-tui", "--port", "0", "--threads", "2",
            "--tenants", str(TENANTS), "--cache-dir", str(cache_dir), *extra]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def read_until(proc, pattern, timeout=120):
    deadline, seen = time.monotonic() + timeout, []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        match = re.search(pattern, line)
        if match:
            return match, seen
    proc.kill()
    raise AssertionError(f"no line matching {pattern!r} in:\n{''.join(seen)}")


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_headless_serves_prints_stats_and_stops(cache_dir, bundled_elves, stop_signal):
    proc = start_console(cache_dir)
    try:
        match, seen = read_until(proc, r"serving on http://127\.0\.0\.1:(\d+)/")
        assert "[hello] Hello from Python\n" in seen
        port = int(match.group(1))
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as c:
            for _ in range(7):
                assert c.get("/").content == SEED_PAGE
        read_until(proc, r"hello 7 req")
        proc.send_signal(stop_signal)
        rest, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0
        assert rest.rstrip().endswith("mtd: stopped")
    finally:
        if proc.poll() is None:
            proc.kill()


def test_port_in_use_is_a_clear_error(cache_dir, bundled_elves, engine):
    argv = [sys.executable, "-m", "mtd.tui.main", "--no-tui", "--port", str(engine.port),
            "--tenants", str(TENANTS), "--cache-dir", str(cache_dir)]
    # SO_REUSEPORT would let a second server share the port; the engine must
    # refuse a port another process (here: this test's engine) already serves.
    out = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert out.returncode == 1
    assert f"127.0.0.1:{engine.port}" in out.stderr
