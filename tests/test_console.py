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


def test_json_lines_follow_the_documented_schema(cache_dir, bundled_elves, tmp_path):
    """--json: every line is an object with "time" and an "event" from
    engine.logs.EVENTS carrying that event's fields; docs/logging.md
    documents each event."""
    import json
    import shutil

    from mtd.engine.logs import EVENTS

    from conftest import REPO

    root = tmp_path / "tenants"
    shutil.copytree(TENANTS / "hello", root / "hello")
    (root / "broken").mkdir()
    (root / "broken" / "app.py").write_text("def on_client_request():\n    return 1 +\n")
    argv = [sys.executable, "-m", "mtd.tui.main", "--no-tui", "--json", "--port", "0",
            "--admin-port", "0", "--threads", "1", "--tenants", str(root),
            "--cache-dir", str(cache_dir)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    try:
        def until_event(event, **match):
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                line = proc.stdout.readline()
                assert line, "".join(json.dumps(l) for l in lines)
                lines.append(json.loads(line))
                if lines[-1]["event"] == event and all(lines[-1].get(k) == v for k, v in match.items()):
                    return lines[-1]
            raise AssertionError(f"no {event} line in {lines}")

        serving = until_event("serving")
        with httpx.Client(base_url=f"http://127.0.0.1:{serving['port']}") as c:
            assert c.get("/").content == SEED_PAGE
        stats = until_event("stats")
        tiers = {t["name"]: t["tier"] for t in stats["tenants"]}
        assert tiers["hello"] in {"optimising", "interpreted", "translating", "translated"}, tiers
        (root / "hello" / "app.py").write_text((TENANTS / "hello" / "app.py").read_text() + "\n")
        until_event("reload", tenant="hello")
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=30)
        lines += [json.loads(line) for line in rest.splitlines()]
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    for line in lines:
        assert isinstance(line["time"], float) and line["event"] in EVENTS, line
        assert set(EVENTS[line["event"]]) <= set(line), line
    seen = {line["event"] for line in lines}
    assert {"tenant_added", "build_started", "build_done", "build_failed", "output", "serving",
            "stats", "reload", "stopped"} <= seen
    done = next(l for l in lines if l["event"] == "build_done" and l["tenant"] == "hello")
    assert done["version"] == 1 and done["init_instructions"] > 0
    failed = next(l for l in lines if l["event"] == "build_failed")
    assert failed["tenant"] == "broken" and failed["error"].startswith("broken: app.py:2:")
    hello = next(t for t in stats["tenants"] if t["name"] == "hello")
    assert hello["requests"] >= 1 and hello["instructions_p50"] > 0 and hello["bytes_out"] > 0
    assert lines[-1]["event"] == "stopped"
    documented = (REPO / "docs" / "logging.md").read_text()
    for event in EVENTS:
        assert f"`{event}`" in documented, event


def test_without_a_terminal_the_console_says_so_and_runs_headless(cache_dir, bundled_elves):
    """`mtd-console | tee log` drew an 80x24 console into the pipe."""
    argv = [sys.executable, "-m", "mtd.tui.main", "--port", "0", "--admin-port", "0",
            "--threads", "1", "--tenants", str(TENANTS), "--cache-dir", str(cache_dir)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL)
    try:
        notice = proc.stderr.readline()
        assert "not a terminal" in notice and "running headless as with --no-tui" in notice
        match, _ = read_until(proc, r"serving on http://127\.0\.0\.1:(\d+)/")
        with httpx.Client(base_url=f"http://127.0.0.1:{match.group(1)}") as c:
            assert c.get("/").content == SEED_PAGE
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0 and rest.rstrip().endswith("mtd: stopped")
    finally:
        if proc.poll() is None:
            proc.kill()
