"""The log: tenants' prints and the engine's events (builds, reloads,
errors, smoke tests), filterable by tenant."""

from __future__ import annotations

import time
from collections import deque

from rich.text import Text
from textual.widgets import RichLog

from mtd.engine.logs import LogRecord
from mtd.engine.safe_text import escape, lines

KEEP = 5000


def render_record(record: LogRecord) -> Text:
    """One line per line of the record, each with the time and the tenant's
    name in front; control characters escaped (safe_text), so a tenant can
    neither rewrite the screen nor start a line that looks like another's."""
    stamp = time.strftime("%H:%M:%S", time.localtime(record.at))
    style = ("bold red" if record.text.startswith("error") else "magenta") \
        if record.kind == "engine" else ""
    rendered = Text()
    for i, line in enumerate(lines("", record.text)):
        if i:
            rendered.append("\n")
        rendered.append(stamp + " ", style="dim")
        if record.tenant:
            rendered.append(f"[{escape(record.tenant)}] ", style="bold cyan")
        rendered.append(line, style=style)
    return rendered


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
