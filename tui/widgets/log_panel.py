"""The log: tenants' prints and the engine's events (builds, reloads,
errors, smoke tests), filterable by tenant."""

from __future__ import annotations

import time
from collections import deque

from rich.text import Text
from textual.widgets import RichLog

from mtd.engine.logs import LogRecord

KEEP = 5000


def render_record(record: LogRecord) -> Text:
    stamp = time.strftime("%H:%M:%S", time.localtime(record.at))
    line = Text(stamp + " ", style="dim")
    if record.tenant:
        line.append(f"[{record.tenant}] ", style="bold cyan")
    if record.kind == "engine":
        style = "bold red" if record.text.startswith("error") else "magenta"
        line.append(record.text, style=style)
    else:
        line.append(record.text)
    return line


class LogPanel(RichLog):
    """Keeps the last records so a filter change can redraw what matches."""

    def __init__(self, **kwargs) -> None:
        super().__init__(max_lines=KEEP, wrap=True, markup=False, **kwargs)
        self.records: deque[LogRecord] = deque(maxlen=KEEP)
        self.filter = ""

    def on_mount(self) -> None:
        self.border_title = "log"

    def matches(self, record: LogRecord) -> bool:
        return not self.filter or self.filter in record.tenant.lower()

    def add(self, records: list[LogRecord]) -> None:
        self.records.extend(records)
        for record in records:
            if self.matches(record):
                self.write(render_record(record))

    def set_filter(self, text: str) -> None:
        self.filter = text.strip().lower()
        self.border_title = f"log: tenant ~ {self.filter!r}" if self.filter else "log"
        self.clear()
        for record in self.records:
            if self.matches(record):
                self.write(render_record(record))

    @property
    def visible_lines(self) -> list[str]:
        """The text of the records the filter lets through (for tests)."""
        return [render_record(r).plain for r in self.records if self.matches(r)]
