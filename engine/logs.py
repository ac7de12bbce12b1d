"""Turns the chunks tenants write (and the engine's own events) into log
records: whole lines, attributed to a tenant, kept in a bounded buffer.

A tenant's text is escaped here (safe_text.escape: no control characters
survive into a record), and a line is kept to MAX_LINE characters: the
rest of it is dropped and said so in an engine record, "[N bytes of a long
line dropped]", attributed to that tenant."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

from .safe_text import escape

MAX_LINE = 4096  # characters of one line kept

# Every event a log line can be, with the fields it carries besides
# "time", "event", "tenant", "kind" and "text" (docs/logging.md documents
# them; tests/test_logs.py holds the JSON lines to this table). A field is
# null when it does not apply (e.g. "log" when no log file was kept).
EVENTS: dict[str, tuple[str, ...]] = {
    "output": (),                   # a line the tenant printed (kind "guest")
    "tenant_added": ("hosts", "default"),
    "tenant_removed": (),
    "build_started": ("language", "hosts", "default"),
    "build_done": ("version", "cached", "optimised", "build_s", "init_instructions"),
    "build_failed": ("error", "log", "still_serving", "seconds"),
    "reload_requested": (),
    "reload": ("seconds", "version"),  # a watched change served: seconds from seen to serving
    "optimised": ("tier", "version", "cached", "seconds"),  # a quick build's optimised one: in, or not
    "translation": ("tier", "version", "seconds"),  # a version's translated code: in, or not
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
        self._dropping: dict[str, int] = {}  # tenant -> bytes dropped of its current line
        self.records: deque[LogRecord] = deque(maxlen=keep)

    def feed(self, tenant: str, chunk: str) -> list[LogRecord]:
        out: list[LogRecord] = []
        if tenant in self._dropping:  # the rest of an over-long line
            head, newline, chunk = chunk.partition("\n")
            self._dropping[tenant] += _size(head)
            if not newline:
                return out
            out += self._drop_notice(tenant, self._dropping.pop(tenant))
        text = self._partial.pop(tenant, "") + chunk
        *lines, rest = text.split("\n")
        for line in lines:
            out.append(LogRecord(tenant, escape(line[:MAX_LINE])))
            if len(line) > MAX_LINE:
                out += self._drop_notice(tenant, _size(line[MAX_LINE:]))
        if len(rest) > MAX_LINE:  # shown now; what follows until its newline is dropped
            out.append(LogRecord(tenant, escape(rest[:MAX_LINE])))
            self._dropping[tenant] = _size(rest[MAX_LINE:])
        elif rest:
            self._partial[tenant] = rest
        self.records.extend(out)
        return out

    def flush_drops(self) -> list[LogRecord]:
        """Notices for long lines still being dropped (a tenant that never
        ends its line is still told about): what was dropped so far."""
        out: list[LogRecord] = []
        for tenant, dropped in list(self._dropping.items()):
            if dropped:
                out += self._drop_notice(tenant, dropped)
                self._dropping[tenant] = 0
        self.records.extend(out)
        return out

    def event(self, tenant: str, text: str, event: str = "note", **fields) -> LogRecord:
        assert event in EVENTS, event
        record = LogRecord(tenant, text, kind="engine", event=event,
                           fields={name: fields.get(name) for name in EVENTS[event]})
        self.records.append(record)
        return record

    @staticmethod
    def _drop_notice(tenant: str, dropped: int) -> list[LogRecord]:
        return [LogRecord(tenant, f"[{dropped:,} bytes of a long line dropped]", kind="engine", event="note")]


def _size(text: str) -> int:
    return len(text.encode("utf-8", errors="surrogatepass"))


def record_json(record: LogRecord) -> dict:
    """A record as one JSON line of `mtd-console --no-tui --json`."""
    return {"time": record.at, "event": record.event, "tenant": record.tenant,
            "kind": record.kind, "text": record.text, **record.fields}
