"""Requests per second of one tenant over the last minute."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Label, Sparkline

from ..format import rate

IDLE = [0.0] * 240  # a minute of nothing at four samples a second


class RateChart(Vertical):
    """A titled sparkline of a req/s history."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.tenant: str | None = None
        self._drawn: tuple | None = None  # what is on screen: an unchanged chart is not redrawn

    def compose(self) -> ComposeResult:
        yield Label("req/s", classes="chart-title")
        yield Sparkline(IDLE, summary_function=max)

    def show(self, tenant: str | None, history: list[float]) -> None:
        self.tenant = tenant
        drawn = (tenant, tuple(history))
        if drawn == self._drawn:
            return
        self._drawn = drawn
        title = self.query_one(Label)
        if tenant is None:
            title.update("req/s: select a tenant")
            self.query_one(Sparkline).data = IDLE
            return
        now = history[-1] if history else 0.0
        peak = max(history, default=0.0)
        title.update(Text.assemble("req/s of ", (tenant, "bold"),
                                   f": now {rate(now)}, peak {rate(peak)} "
                                   f"(last {len(history or IDLE) / 4:.0f} s)"))
        # No history (a tenant that never loaded): a flat line, as for an
        # idle one (a single sample drew full bars).
        self.query_one(Sparkline).data = list(history) or IDLE
