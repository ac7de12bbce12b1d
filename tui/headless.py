"""Headless mode: the engine without a screen. Prints log records as they
come and one stats line per second; stops cleanly on SIGINT or SIGTERM."""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from typing import TextIO

from mtd.engine import Engine, EngineConfig
from mtd.engine.logs import LogRecord
from mtd.engine.safe_text import escape, lines
from mtd.engine.watcher import TenantWatcher


def format_record(record: LogRecord) -> str:
    """The record as text lines, each starting with who said it: "[tenant] "
    for a tenant's output, "mtd: [tenant] " or "mtd: " for the engine's.
    Control characters are escaped, so no line can be rewritten or faked."""
    who = f"[{escape(record.tenant)}] " if record.tenant else ""
    prefix = f"mtd: {who}" if record.kind == "engine" else who
    return "\n".join(lines(prefix, record.text))


def format_json_record(record: LogRecord) -> str:
    return json.dumps({"log": escape(record.text), "tenant": escape(record.tenant),
                       "kind": record.kind, "time": record.at})


class RateTracker:
    """Requests per second per tenant, from successive cumulative counters.
    With error_rates=True each row also carries "errors_rps" (the console's
    errors/s column); the headless output keeps its fields."""

    def __init__(self, error_rates: bool = False):
        self._last: dict[str, tuple[float, int, int]] = {}
        self._error_rates = error_rates

    def update(self, stats: list[dict], now: float) -> list[dict]:
        rows = []
        for entry in stats:
            name, total = entry["name"], entry["requests"]
            errors = sum(entry["errors"].values())
            then, before, errors_before = self._last.get(name, (now, total, errors))
            elapsed = now - then
            rate = (total - before) / elapsed if elapsed > 0 else 0.0
            self._last[name] = (now, total, errors)
            row = {"name": name, "requests": total, "rps": round(rate, 1), "errors": errors}
            if self._error_rates:
                row["errors_rps"] = round((errors - errors_before) / elapsed, 1) if elapsed > 0 else 0.0
            rows.append(row)
        return rows


def format_stats(rows: list[dict]) -> str:
    # Requests no tenant took (404s) are listed only once there are some.
    parts = [f"{escape(r['name']) or '(unrouted)'} {r['requests']:,} req {r['rps']:,.0f}/s"
             + (f" {r['errors']:,} err" if r["errors"] else "")
             for r in rows if r["name"] or r["requests"]]
    return time.strftime("%H:%M:%S ") + (" | ".join(parts) if parts else "no tenants")


def run_headless(config: EngineConfig, json_lines: bool = False, watch: bool = True,
                 out: TextIO = sys.stdout) -> int:
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set())
                for sig in (signal.SIGINT, signal.SIGTERM)}

    def emit_logs(engine: Engine) -> None:
        for record in engine.drain_logs():
            if json_lines:
                out.write(format_json_record(record) + "\n")
            else:
                out.write(format_record(record) + "\n")
        out.flush()

    try:
        try:
            engine = Engine(config)
            engine.start()
        except RuntimeError as e:  # e.g. the port is taken
            print(f"mtd-console: {e}", file=sys.stderr)
            return 1
        watcher = TenantWatcher(engine) if watch else None
        if watcher:
            watcher.start()
        rates = RateTracker()
        rates.update(engine.stats(), time.monotonic())
        try:
            emit_logs(engine)
            while not stop.wait(1.0):
                emit_logs(engine)
                rows = rates.update(engine.stats(), time.monotonic())
                if json_lines:
                    out.write(json.dumps({"time": time.time(), "tenants": rows}) + "\n")
                else:
                    out.write(format_stats(rows) + "\n")
                out.flush()
        finally:
            if watcher:
                watcher.stop()
            engine.stop()
            emit_logs(engine)
        out.write("mtd: stopped\n" if not json_lines else json.dumps({"stopped": True}) + "\n")
        out.flush()
        return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
