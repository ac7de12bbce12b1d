"""`?`: what every key does."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

KEYS = [
    ("r", "reload the selected tenant (rebuild, swap, then a smoke GET)"),
    ("R", "reload all tenants"),
    ("l", "launch a load test (tenant, duration, connections, rate, vs vanilla)"),
    ("enter", "tenant detail: limits, latency percentiles, last error and its line"),
    ("o", "the selected tenant's log: its output, builds and errors, and its last failed build"),
    ("t", "send a request to the selected tenant: method, path, Host, body; see the answer"),
    ("c", "switch the table between traffic and cost per request (instructions, pages, bytes)"),
    ("/", "filter the tenant table and the log by tenant name (empty: all)"),
    ("e", "export this session's load test runs as JSON (load test screen)"),
    ("s", "stop the running load test (load test screen)"),
    ("escape", "back to the dashboard"),
    ("ctrl+p", "command palette: the same actions by name"),
    ("?", "this help"),
    ("q", "quit: stop the file watcher and the engine"),
]


class HelpScreen(ModalScreen[None]):
    BINDINGS = [("escape", "dismiss", "Close"), ("question_mark", "dismiss", "Close"),
                ("q", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold cyan", justify="right")
        table.add_column()
        for key, what in KEYS:
            table.add_row(key, what)
        with Vertical(id="help-box", classes="dialog"):
            yield Static("[b]mtd console keys[/b]\n", id="help-title")
            yield Static(table, id="help-keys")
            yield Static("\n[dim]Tenant files are watched: saving app.py, app.cpp or "
                         "tenant.toml reloads that tenant on its own.  escape closes.[/dim]")
