"""`o`: one tenant's log. Its recent output, build events and errors (the
last 1,000 records, tui/tenant_logs.py), and the compiler's log of its last
failed build. Everything the tenant or its build wrote goes through
shown_text() and into rich Text: it can neither move the cursor nor be read
as markup."""

from __future__ import annotations

import time
from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer, Header, RichLog, Static

from mtd.engine.logs import LogRecord

from ..format import shown_text
from ..messages import EngineTick, LogsArrived, Snapshot

BUILD_LOG_LINES = 200  # the end of the compiler's output
BUILD_LOG_BYTES = 64 * 1024


def record_line(record: LogRecord) -> Text:
    stamp = time.strftime("%H:%M:%S", time.localtime(record.at))
    line = Text(stamp + " ", style="dim")
    if record.kind == "engine":
        style = "bold red" if record.text.startswith("error") else "magenta"
        line.append(shown_text(record.text), style=style)
    else:
        line.append(shown_text(record.text))
    return line


def build_log_tail(path: Path | None) -> Text:
    if path is None:
        return Text("no failed build kept for this tenant", style="dim")
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - BUILD_LOG_BYTES))
            data = f.read().decode("utf-8", errors="replace")
    except OSError as e:
        return Text(f"{path}: {e.strerror}", style="red")
    lines = data.splitlines()[-BUILD_LOG_LINES:]
    text = Text(f"{path} (last {len(lines)} lines)\n", style="dim")
    text.append(shown_text("\n".join(lines)))
    return text


class TenantLogScreen(Screen):
    BINDINGS = [("escape", "back", "Back"), ("r", "reload", "Reload"), ("t", "request", "Request")]

    def __init__(self, tenant: str) -> None:
        super().__init__()
        self.tenant = tenant
        self._shown_build_log: Path | None | bool = False  # which build log is on screen

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="tlog-body"):
            yield Static(id="tlog-summary")
            yield RichLog(id="tlog-records", max_lines=2000, wrap=True, markup=False)
            yield Static(id="tlog-build")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"log of {self.tenant}"
        self.query_one("#tlog-records").border_title = f"{self.tenant}: output, builds, errors"
        self.query_one("#tlog-build").border_title = "last failed build: compiler output"
        log = self.query_one("#tlog-records", RichLog)
        for record in self.app.tenant_logs.records(self.tenant):
            log.write(record_line(record))
        if self.app.snapshot is not None:
            self.show(self.app.snapshot)

    @property
    def lines(self) -> list[str]:
        """The records on screen as plain text (for tests)."""
        return [shown_text(r.text) for r in self.app.tenant_logs.records(self.tenant)]

    def on_logs_arrived(self, message: LogsArrived) -> None:
        log = self.query_one("#tlog-records", RichLog)
        for record in message.records:
            if record.tenant == self.tenant:
                log.write(record_line(record))

    def on_engine_tick(self, message: EngineTick) -> None:
        self.show(message.snapshot)

    def show(self, snapshot: Snapshot) -> None:
        status = snapshot.statuses.get(self.tenant)
        summary = Text.assemble((self.tenant, "bold"), "  ")
        if status is None:
            summary.append("no such tenant (unloaded?)", style="red")
        else:
            summary.append(f"{status.state}, version {status.version}")
            if status.error:
                summary.append("\nlast error: ", style="bold red")
                summary.append(shown_text(status.error))
        self.query_one("#tlog-summary", Static).update(summary)
        path = status.log_path if status is not None else None
        if path != self._shown_build_log:  # read the file only when it changes
            self._shown_build_log = path
            self.query_one("#tlog-build", Static).update(build_log_tail(path))

    def action_back(self) -> None:
        self.dismiss()

    def action_reload(self) -> None:
        self.app.reload_tenants([self.tenant])

    def action_request(self) -> None:
        self.app.action_request(self.tenant)
