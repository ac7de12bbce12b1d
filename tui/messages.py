"""Messages the console passes around instead of reaching across widgets."""

from __future__ import annotations

from dataclasses import dataclass, field

from textual.message import Message

from mtd.engine import TenantStatus
from mtd.engine.logs import LogRecord


@dataclass
class Snapshot:
    """One poll of the engine (4 per second): tenants, stats and rates."""

    at: float
    statuses: dict[str, TenantStatus]
    stats: dict[str, dict]          # name -> engine.stats() entry (NO_TENANT: unrouted)
    rows: dict[str, dict]           # name -> RateTracker row (rps, errors_rps, ...)
    history: dict[str, list[float]] = field(default_factory=dict)  # name -> recent req/s


class EngineTick(Message):
    """Posted to every screen on the stack after each poll of the engine."""

    def __init__(self, snapshot: Snapshot) -> None:
        super().__init__()
        self.snapshot = snapshot


class LogsArrived(Message):
    """New log records (tenant output, builds, reloads, errors)."""

    def __init__(self, records: list[LogRecord]) -> None:
        super().__init__()
        self.records = records


class TenantSelected(Message):
    """The tenant table's cursor moved to a tenant."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name


class TenantOpened(Message):
    """A tenant row was chosen (enter): open its detail screen."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name


class FilterChanged(Message):
    """The tenant filter (for the table and the log) changed."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text
