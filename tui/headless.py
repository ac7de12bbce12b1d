"""Headless mode: the engine without a screen. Prints log records as they
come and one stats line per second; stops cleanly on SIGINT or SIGTERM."""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import threading
import time
from collections import deque
from typing import TextIO

from mtd.engine import Engine, EngineConfig
from mtd.engine.logs import LogRecord, record_json
from mtd.engine.safe_text import escape, lines
from mtd.engine.tenants import NO_TENANT
from mtd.engine.watcher import TenantWatcher


def format_record(record: LogRecord) -> str:
    """The record as text lines, each starting with who said it: "[tenant] "
    for a tenant's output, "mtd: [tenant] " or "mtd: " for the engine's.
    Control characters are escaped, so no line can be rewritten or faked."""
    who = f"[{escape(record.tenant)}] " if record.tenant else ""
    prefix = f"mtd: {who}" if record.kind == "engine" else who
    return "\n".join(lines(prefix, record.text))


def format_json_record(record: LogRecord) -> str:
    """The record as one JSON line (docs/logging.md), its text and tenant
    escaped as in format_record (JSON would keep ESC and CR as such)."""
    entry = record_json(record)
    entry["text"], entry["tenant"] = escape(record.text), escape(record.tenant)
    return json.dumps(entry)


class RateTracker:
    """Requests per second per tenant, from successive cumulative counters.
    With error_rates=True each row also carries "errors_rps" (the console's
    errors/s column); the headless output keeps its fields.

    window: the rate is taken over at least this many seconds. The console
    polls four times a second; over one poll a single request read as
    4 req/s ("peak 4.0 req/s" for a one-request smoke test)."""

    def __init__(self, error_rates: bool = False, window: float = 0.0):
        self._samples: dict[str, deque[tuple[float, int, int]]] = {}
        self._error_rates = error_rates
        self._window = window

    def update(self, stats: list[dict], now: float) -> list[dict]:
        rows = []
        for entry in stats:
            name, total = entry["name"], entry["requests"]
            errors = sum(entry["errors"].values())
            samples = self._samples.setdefault(name, deque())
            if not samples:
                samples.append((now, total, errors))
            # The newest sample at least `window` old is the base; older go.
            while len(samples) > 1 and now - samples[1][0] >= self._window:
                samples.popleft()
            then, before, errors_before = samples[0]
            elapsed = max(now - then, self._window)
            rate = (total - before) / elapsed if elapsed > 0 else 0.0
            samples.append((now, total, errors))
            row = {"name": name, "requests": total, "rps": round(rate, 1), "errors": errors}
            if self._error_rates:
                row["errors_rps"] = round((errors - errors_before) / elapsed, 1) if elapsed > 0 else 0.0
            rows.append(row)
        return rows


def stats_rows(rows: list[dict], stats: list[dict]) -> list[dict]:
    """The "stats" JSON line's tenants: rates, latency and cost (docs/logging.md)."""
    by_name = {entry["name"]: entry for entry in stats}
    out = []
    for row in rows:
        entry = by_name[row["name"]]
        cost, latency = entry["cost"], entry["latency"]
        out.append({**row, "tier": entry["tier"], "errors_by_kind": entry["errors"],
                    "p50_us": latency["p50_us"], "p99_us": latency["p99_us"],
                    "instructions_p50": cost["instructions"]["p50"],
                    "instructions_p99": cost["instructions"]["p99"],
                    "pages_copied_per_request": cost["pages_copied_per_request"],
                    "peak_memory_bytes": cost["peak_memory_bytes"],
                    "bytes_in": cost["bytes_in"], "bytes_out": cost["bytes_out"]})
    return out


def format_stats(rows: list[dict]) -> str:
    # Requests no tenant took (404s) are listed only once there are some.
    parts = [f"{escape(r['name'])} {r['requests']:,} req {r['rps']:,.0f}/s"
             + (f" {r['errors']:,} err" if r["errors"] else "")
             for r in rows if r["name"] != NO_TENANT or r["requests"]]
    return time.strftime("%H:%M:%S ") + (" | ".join(parts) if parts else "no tenants")


@contextlib.contextmanager
def stop_on_signals(stop: threading.Event):
    """SIGINT and SIGTERM set `stop` (main thread only: elsewhere, no change)."""
    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {sig: signal.signal(sig, lambda *_: stop.set())
                    for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_headless(config: EngineConfig, json_lines: bool = False, watch: bool = True,
                 out: TextIO = sys.stdout) -> int:
    with stop_on_signals(threading.Event()) as stop:  # a signal during the builds counts too
        try:
            engine = Engine(config)
            engine.start()
        except RuntimeError as e:  # e.g. the port is taken
            print(f"mtd-console: {e}", file=sys.stderr)
            return 1
        watcher = TenantWatcher(engine) if watch else None
        if watcher:
            watcher.start()
        return serve_until_stopped(engine, watcher, json_lines=json_lines, out=out, stop=stop)


def serve_until_stopped(engine: Engine, watcher: TenantWatcher | None, json_lines: bool = False,
                        out: TextIO = sys.stdout, stop: threading.Event | None = None) -> int:
    """Prints the log and a stats line per second until `stop` is set (by
    default: SIGINT or SIGTERM), then stops the watcher and the engine. Also
    where the console goes on when its UI fails (tui/app.py)."""
    if stop is None:
        with stop_on_signals(threading.Event()) as stop:
            return serve_until_stopped(engine, watcher, json_lines, out, stop)

    def emit_logs() -> None:
        for record in engine.drain_logs():
            if json_lines:
                out.write(format_json_record(record) + "\n")
            else:
                out.write(format_record(record) + "\n")
        out.flush()

    try:
        rates = RateTracker()
        rates.update(engine.stats(), time.monotonic())
        emit_logs()
        while not stop.wait(1.0):
            emit_logs()
            stats = engine.stats()
            rows = rates.update(stats, time.monotonic())
            if json_lines:
                out.write(json.dumps({"time": time.time(), "event": "stats",
                                      "tenants": stats_rows(rows, stats)}) + "\n")
            else:
                out.write(format_stats(rows) + "\n")
            out.flush()
    finally:
        if watcher:
            watcher.stop()
        engine.stop()
        emit_logs()
    out.write("mtd: stopped\n" if not json_lines
              else json.dumps({"time": time.time(), "event": "stopped"}) + "\n")
    out.flush()
    return 0
