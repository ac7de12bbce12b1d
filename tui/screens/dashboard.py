"""The main screen: tenants, the selected tenant's req/s, the system and the log."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Footer, Header

from ..messages import EngineTick, FilterChanged, LogsArrived, Snapshot, TenantSelected
from ..widgets import LogPanel, RateChart, SystemPanel, TenantTable


class DashboardScreen(Screen):
    BINDINGS = [("c", "toggle_cost", "Cost/traffic")]

    def __init__(self) -> None:
        super().__init__(id="dashboard")
        self._snapshot: Snapshot | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="top"):
            yield TenantTable(id="tenants")
            yield SystemPanel(id="system")
        yield RateChart(id="chart")
        yield LogPanel(id="log")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(TenantTable).border_title = "tenants"
        self.query_one(TenantTable).focus()

    @property
    def selected(self) -> str | None:
        return self.query_one(TenantTable).selected

    def on_engine_tick(self, message: EngineTick) -> None:
        self._snapshot = message.snapshot
        self.query_one(TenantTable).show(message.snapshot)
        self._update_chart()

    def on_logs_arrived(self, message: LogsArrived) -> None:
        self.query_one(LogPanel).add(message.records)

    def on_tenant_selected(self, message: TenantSelected) -> None:
        self._update_chart()  # the message bubbles on to the app

    def on_filter_changed(self, message: FilterChanged) -> None:
        self.query_one(TenantTable).set_filter(message.text)
        self.query_one(LogPanel).set_filter(message.text)
        self._title_table()

    def action_toggle_cost(self) -> None:
        """Switches the table between traffic (req/s, latency) and cost
        (instructions, pages, memory, bytes, failures by kind)."""
        table = self.query_one(TenantTable)
        table.set_view("cost" if table.view == "traffic" else "traffic")
        # The cost columns need the width the system panel takes.
        self.query_one(SystemPanel).display = table.view == "traffic"
        self._title_table()

    def _title_table(self) -> None:
        table = self.query_one(TenantTable)
        title = "tenants: cost per request (c: traffic)" if table.view == "cost" else "tenants"
        table.border_title = f"{title}: ~ {table.filter!r}" if table.filter else title

    def _update_chart(self) -> None:
        name = self.selected
        history = self._snapshot.history.get(name, []) if self._snapshot and name else []
        self.query_one(RateChart).show(name, history)
