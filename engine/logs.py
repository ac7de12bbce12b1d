"""Turns the chunks tenants write (and the engine's own events) into log
records: whole lines, attributed to a tenant, kept in a bounded buffer."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

MAX_LINE = 4096  # a guest writing without newlines still yields lines


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
        record = LogRecord(tenant, text, kind="engine", event=event, fields=fields)
        self.records.append(record)
        return record
