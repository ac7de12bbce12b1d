"""A tenant in detail: hosts, limits, latency percentiles, error counters
and the last build error with the source line it points at."""

from __future__ import annotations

import ast
import math
import time
from pathlib import Path

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from mtd.engine.tenants import TenantConfigError, load_tenant

from ..format import ERROR_LOCATION, error_source, rate, shown_text, size, us
from ..messages import EngineTick, Snapshot

BAR = 36
PERCENTILES = (("p50", "p50_us"), ("p90", "p90_us"), ("p99", "p99_us"), ("p99.9", "p999_us"),
               ("max", "max_us"), ("mean", "mean_us"))


def error_columns(path: Path, source: str, line: int, text: str) -> tuple[int, int]:
    """Where on the line the caret goes: Python's own column for a syntax
    error in app.py, else under the whole line (leading blanks aside)."""
    if path.suffix == ".py":
        try:
            ast.parse(source, filename=path.name)
        except SyntaxError as e:
            if e.lineno == line and e.offset:
                start = min(max(e.offset - 1, 0), max(len(text) - 1, 0))
                end = e.end_offset - 1 if e.end_lineno == line and e.end_offset else start + 1
                return start, max(end, start + 1)
    stripped = text.lstrip()
    return len(text) - len(stripped), max(len(text.rstrip()), len(text) - len(stripped) + 1)


def excerpt(path: Path, line: int, around: int = 2) -> Text:
    """Lines line-around..line+around with their numbers; a caret row
    under the named line."""
    source = path.read_text(errors="replace")
    lines = source.splitlines()
    first, last = max(1, line - around), min(len(lines), line + around)
    width = len(str(last))
    out = Text()
    for number in range(first, last + 1):
        text = lines[number - 1].expandtabs(4)
        marked = number == line
        out.append(f"{'>' if marked else ' '} {number:>{width}} │ ", style="bold red" if marked else "dim")
        out.append(shown_text(text) + "\n", style="bold" if marked else "")
        if marked:
            start, end = error_columns(path, source, line, text)
            out.append(" " * (width + 5 + start) + "^" * (end - start) + "\n", style="bold red")
    out.rstrip()
    return out


def cost_line(cost: dict) -> str:
    instructions = cost.get("instructions", {})
    if not instructions.get("count"):
        return "\ncost per request: - (no request yet)"
    return (f"\ncost per request: instructions p50 {instructions['p50']:,}, "
            f"p99 {instructions['p99']:,}, max {instructions['max']:,}  "
            f"pages copied {cost['pages_copied_per_request']:.2f}  "
            f"peak memory {size(cost['peak_memory_bytes'])}  "
            f"in {size(cost['bytes_in'])}, out {size(cost['bytes_out'])}")


def latency_bars(latency: dict) -> Table:
    """Percentiles as bars on a log scale (1 µs .. the maximum)."""
    table = Table(box=None, padding=(0, 1), show_header=False)
    table.add_column("", style="bold")
    table.add_column("", justify="right")
    table.add_column("")
    top = max(latency.get("max_us", 0.0), 1.0)
    for label, key in PERCENTILES:
        value = latency.get(key, 0.0)
        width = int(BAR * math.log10(1 + value) / math.log10(1 + top)) if value > 0 else 0
        table.add_row(label, us(value), Text("█" * width, style="cyan"))
    table.add_row("count", f"{latency.get('count', 0):,}", "")
    return table


class TenantDetailScreen(Screen):
    BINDINGS = [("escape", "back", "Back"), ("r", "reload", "Reload"), ("t", "request", "Request")]

    def __init__(self, name: str) -> None:
        super().__init__(id="detail")
        self.tenant = name
        self._limits: dict | None = None
        self._limits_version = -1

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="detail-body"):
            yield Static(id="detail-summary")
            with Horizontal(id="detail-numbers"):
                yield Static(id="detail-limits")
                yield Static(id="detail-latency")
                yield Static(id="detail-sandbox")
            yield Static(id="detail-error")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"tenant {self.tenant}"
        for widget_id, title in (("#detail-limits", "limits (tenant.toml)"),
                                 ("#detail-latency", "request latency (since start)"),
                                 ("#detail-sandbox", "time in the sandbox"),
                                 ("#detail-error", "last error")):
            self.query_one(widget_id).border_title = title
        if self.app.snapshot is not None:
            self.show(self.app.snapshot)

    def on_engine_tick(self, message: EngineTick) -> None:
        self.show(message.snapshot)

    def action_back(self) -> None:
        self.dismiss()

    def action_reload(self) -> None:
        self.app.reload_tenants([self.tenant])

    def action_request(self) -> None:
        self.app.action_request(self.tenant)

    def _tenant_dir(self) -> Path:
        return Path(self.app.config.tenants_dir) / self.tenant

    def _read_limits(self, version: int) -> dict | str:
        if self._limits is None or version != self._limits_version:
            try:
                self._limits = load_tenant(self._tenant_dir()).limits
            except TenantConfigError as e:
                self._limits = {"error": str(e)}
            self._limits_version = version
        return self._limits

    def show(self, snapshot: Snapshot) -> None:
        status = snapshot.statuses.get(self.tenant)
        stats = snapshot.stats.get(self.tenant, {})
        row = snapshot.rows.get(self.tenant, {})
        summary = self.query_one("#detail-summary", Static)
        if status is None:
            summary.update(Text.assemble((self.tenant, "bold"), ": ",
                                         ("no such tenant (unloaded?)", "red")))
            return
        state_style = {"serving": "green", "building": "yellow", "error": "red"}[status.state] \
            if status.state in ("serving", "building", "error") else ""
        loaded = (time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(status.loaded_at))
                  if status.loaded_at else "never")
        build = ("cached build" if status.cached else f"built in {status.build_seconds:.2f} s") \
            if status.build_seconds is not None else "not built"
        reload = (f", last save to serving {status.save_to_serving_s:.2f} s"
                  if status.save_to_serving_s is not None else "")
        errors = stats.get("errors", {})
        # Names and hosts come from the tenant's folder and tenant.toml:
        # plain Text, never markup.
        summary.update(Text.assemble(
            (self.tenant, "bold"), "  ", (status.state, state_style),
            f"  version {status.version}  ({build}, loaded {loaded}{reload})\n"
            f"hosts: {shown_text(', '.join(status.hosts)) or '-'}",
            ("  (default tenant)", "bold") if status.default else "",
            f"\nrequests {stats.get('requests', 0):,}  now {rate(row.get('rps', 0.0))} req/s  "
            f"in flight {stats.get('in_flight', 0)}  "
            f"2xx {stats.get('status_2xx', 0):,}  4xx {stats.get('status_4xx', 0):,}  "
            f"5xx {stats.get('status_5xx', 0):,}  log lines dropped {stats.get('log_dropped', 0):,}\n"
            f"errors: " + ("  ".join(f"{k} {v:,}" for k, v in errors.items()) or "-")
            + cost_line(stats.get("cost", {}))))

        limits = self._read_limits(status.version)
        table = Table(box=None, padding=(0, 1), show_header=False)
        table.add_column("", style="bold")
        table.add_column("", justify="right")
        for key, value in limits.items():
            shown = size(value) if isinstance(value, int) and ("memory" in key or "bytes" in key) \
                else (f"{value:,}" if isinstance(value, int) else str(value))
            table.add_row(key.replace("_", " "), shown)
        self.query_one("#detail-limits", Static).update(table)
        self.query_one("#detail-latency", Static).update(
            latency_bars(stats.get("latency", {})))
        self.query_one("#detail-sandbox", Static).update(
            latency_bars(stats.get("sandbox_latency", {})))
        self.query_one("#detail-error", Static).update(self._error(status))

    def _error(self, status):
        if not status.error:
            return Text("last error: none", style="green")
        parts = [Text.assemble(("last error: ", "bold red"), shown_text(status.error))]
        if status.state == "serving":
            parts.append(Text(f"version {status.version} keeps serving", style="yellow"))
        source = error_source(status.error, self._tenant_dir())
        if source:
            path, line, _ = source
            parts.append(Text(f"{path.name}, line {line}:", style="bold"))
            # The lines around it once, the bad one marked with a caret
            # (it used to come twice: highlighted, then again after ">>>").
            parts.append(excerpt(path, line))
        elif ERROR_LOCATION.match(status.error):
            parts.append(Text("(the file or line it names is gone)", style="dim"))
        if status.log_path:
            parts.append(Text(f"full compiler output: {status.log_path}", style="dim"))
        return Group(*parts)
