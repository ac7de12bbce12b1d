"""Turns the chunks tenants write (and the engine's own events) into log
records: whole lines, attributed to a tenant, kept in a bounded buffer."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

MAX_LINE = 4096  # a guest writing without newlines still yields lines

# Every event a log line can be, with the fields it carries besides
# "time", "event", "tenant", "kind" and "text" (docs/logging.md documents
# them; tests/test_logs.py holds the JSON lines to this table). A field is
# null when it does not apply (e.g. "log" when no log file was kept).
EVENTS: dict[str, tuple[str, ...]] = {
    "output": (),                   # a line the tenant printed (kind "guest")
    "tenant_added": ("hosts", "default"),
    "tenant_removed": (),
    "build_started": ("language", "hosts", "default"),
    "build_done": ("version", "cached", "build_s", "init_instructions"),
    "build_failed": ("error", "log", "still_serving", "seconds"),
    "reload_requested": (),
    "reload": ("seconds", "version"),  # a watched change served: seconds from seen to serving
    "smoke": ("status", "ms", "bytes"),
    "load_test": ("target", "path", "duration_s", "connections", "rate", "requests", "seconds",
                  "rps", "failed", "p50_us", "p99_us", "max_us"),
    "serving": ("port", "admin_port"),
    "error": (),                    # anything else that went wrong; the text says what
    "console_error": ("where", "traceback_file"),
    "note": (),                     # anything else worth a line (exports, addresses)
    # Lines of the headless mode itself, not records:
    "stats": ("tenants",),          # once a second
    "stopped": (),
}


@dataclass(frozen=True)
class LogRecord:
    tenant: str
    text: str
    kind: str = "guest"  # "guest": the tenant's own output; "engine": builds, loads, errors
    at: float = field(default_factory=time.time)
    # Engine events: what happened ("build_done", ...; docs/logging.md) and
    # its figures, for the JSON lines. "output" for a tenant's own line.
    event: str = "output"
    fields: dict = field(default_factory=dict, compare=False)


class LogAssembler:
    def __init__(self, keep: int = 10_000):
        self._partial: dict[str, str] = {}
        self.records: deque[LogRecord] = deque(maxlen=keep)

    def feed(self, tenant: str, chunk: str) -> list[LogRecord]:
        text = self._partial.pop(tenant, "") + chunk
        *lines, rest = text.split("\n")
        while len(rest) > MAX_LINE:
            lines.append(rest[:MAX_LINE])
            rest = rest[MAX_LINE:]
        if rest:
            self._partial[tenant] = rest
        out = [LogRecord(tenant, line) for line in lines]
        self.records.extend(out)
        return out

    def event(self, tenant: str, text: str, event: str = "note", **fields) -> LogRecord:
        assert event in EVENTS, event
        record = LogRecord(tenant, text, kind="engine", event=event,
                           fields={name: fields.get(name) for name in EVENTS[event]})
        self.records.append(record)
        return record


def record_json(record: LogRecord) -> dict:
    """A record as one JSON line of `mtd-console --no-tui --json`."""
    return {"time": record.at, "event": record.event, "tenant": record.tenant,
            "kind": record.kind, "text": record.text, **record.fields}
