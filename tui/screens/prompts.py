"""Small modal forms: the tenant filter, the load test form, the export path."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widgets import Button, Input, Label

from ..widgets.tick_box import TickBox


class FilterPrompt(ModalScreen[str | None]):
    """`/`: a tenant name (or part of one); empty shows everything."""

    BINDINGS = [("escape", "cancel", "Cancel")]

    def __init__(self, current: str) -> None:
        super().__init__()
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="filter-box"):
            yield Label("Filter the tenants and the log by tenant name (empty: all)")
            yield Input(value=self.current, placeholder="tenant", id="filter-input")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip())

    def action_cancel(self) -> None:
        self.dismiss(None)


@dataclass
class LoadTestRequest:
    tenant: str | None
    duration: float = 5.0
    connections: int = 16
    rate: float = 0.0
    compare: bool = False
    path: str = "/"

    def remembered(self) -> dict:
        """What the form keeps for this tenant until next time."""
        return {"path": self.path, "duration": self.duration, "connections": self.connections,
                "rate": self.rate, "compare": self.compare}


class LoadTestForm(ModalScreen[LoadTestRequest | None]):
    """`l`: what to load and how hard. Each tenant's last values come back
    (`remembered`: tenant -> LoadTestRequest.remembered(), kept by the app).
    The tenant is typed (with completion), not a dropdown: a dropdown
    covered the rows under it, and there may be thousands of tenants."""

    BINDINGS = [("escape", "cancel", "Cancel")]

    def __init__(self, tenants: list[str], selected: str | None, vanilla: bool,
                 remembered: dict[str, dict] | None = None) -> None:
        super().__init__()
        self.tenants = tenants
        self.selected = selected if selected in tenants else (tenants[0] if tenants else None)
        self.vanilla = vanilla
        self.remembered = remembered or {}

    def _values(self, tenant: str | None) -> dict:
        values = LoadTestRequest(tenant).remembered()
        values.update(self.remembered.get(tenant or "", {}))
        return values

    def compose(self) -> ComposeResult:
        values = self._values(self.selected)
        with Vertical(classes="dialog", id="loadtest-form"):
            yield Label("[b]Load test[/b] with the built-in generator")
            with Horizontal(classes="field"):
                yield Label("tenant", classes="field-label")
                yield Input(self.selected or "", id="tenant", compact=True,
                            suggester=SuggestFromList(self.tenants, case_sensitive=True),
                            placeholder="tenant name (tab completes)")
            with Horizontal(classes="field"):
                yield Label("path", classes="field-label")
                yield Input(values["path"], id="path", compact=True)
            with Horizontal(classes="field"):
                yield Label("duration (s)", classes="field-label")
                yield Input(f"{values['duration']:g}", type="number", id="duration", compact=True)
            with Horizontal(classes="field"):
                yield Label("connections", classes="field-label")
                yield Input(str(values["connections"]), type="integer", id="connections", compact=True)
            with Horizontal(classes="field"):
                yield Label("rate (req/s, 0 = max)", classes="field-label")
                yield Input(f"{values['rate']:g}", type="number", id="rate", compact=True)
            yield TickBox("compare with vanilla (/_mtd/vanilla, run back to back)",
                          value=bool(values["compare"]) and self.vanilla, disabled=not self.vanilla,
                          id="compare", compact=True)
            yield Label("", id="form-error")
            with Horizontal(classes="buttons"):
                yield Button("Start", variant="primary", id="start")
                yield Button("Cancel", id="cancel")

    def on_input_changed(self, event: Input.Changed) -> None:
        # Another tenant typed in full: its last values come back.
        if event.input.id == "tenant" and event.value in self.remembered:
            values = self._values(event.value)
            self.query_one("#path", Input).value = values["path"]
            self.query_one("#duration", Input).value = f"{values['duration']:g}"
            self.query_one("#connections", Input).value = str(values["connections"])
            self.query_one("#rate", Input).value = f"{values['rate']:g}"
            if self.vanilla:
                self.query_one("#compare", TickBox).value = bool(values["compare"])

    def _request(self) -> LoadTestRequest | None:
        error = self.query_one("#form-error", Label)
        try:
            duration = float(self.query_one("#duration", Input).value)
            connections = int(self.query_one("#connections", Input).value)
            rate = float(self.query_one("#rate", Input).value or 0)
        except ValueError:
            error.update("[red]duration, connections and rate must be numbers[/red]")
            return None
        if duration <= 0 or connections <= 0 or rate < 0:
            error.update("[red]duration and connections must be positive, rate >= 0[/red]")
            return None
        tenant = self.query_one("#tenant", Input).value.strip()
        if tenant not in self.tenants:
            error.update(Text(f"no serving tenant named {tenant!r}" if tenant else "no tenant to load",
                              style="red"))
            return None
        path = self.query_one("#path", Input).value.strip() or "/"
        return LoadTestRequest(tenant=tenant, duration=duration, connections=connections,
                               rate=rate, compare=self.query_one("#compare", TickBox).value,
                               path=path if path.startswith("/") else "/" + path)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "cancel":
            self.dismiss(None)
        elif (request := self._request()) is not None:
            self.dismiss(request)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if (request := self._request()) is not None:
            self.dismiss(request)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ExportPrompt(ModalScreen[str | None]):
    """`e` on the load test screen: where to write the runs as JSON."""

    BINDINGS = [("escape", "cancel", "Cancel")]

    def __init__(self, default: str) -> None:
        super().__init__()
        self.default = default

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="export-box"):
            yield Label("Export this session's load test runs as JSON to:")
            yield Input(value=self.default, id="export-path")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or self.default)

    def action_cancel(self) -> None:
        self.dismiss(None)
