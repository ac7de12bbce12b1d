"""Each tenant's recent log records (its output, builds, reloads, errors):
a bounded ring buffer per tenant, so one chatty tenant cannot push another
tenant's lines out, as it can in the shared log."""

from __future__ import annotations

from collections import deque

from mtd.engine.logs import LogRecord

KEEP = 1000  # records per tenant
TENANTS = 2000  # tenants kept; the least recently written are dropped first


class TenantLogs:
    def __init__(self, keep: int = KEEP) -> None:
        self.keep = keep
        self._logs: dict[str, deque[LogRecord]] = {}

    def feed(self, records: list[LogRecord]) -> None:
        for record in records:
            if not record.tenant:
                continue
            log = self._logs.pop(record.tenant, None)
            if log is None:
                log = deque(maxlen=self.keep)
            log.append(record)
            self._logs[record.tenant] = log  # most recently written last
        while len(self._logs) > TENANTS:
            del self._logs[next(iter(self._logs))]

    def records(self, tenant: str) -> list[LogRecord]:
        return list(self._logs.get(tenant, ()))
