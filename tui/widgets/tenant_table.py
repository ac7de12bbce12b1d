"""The tenants table: one row per tenant, refreshed on every engine tick.
Two sets of columns: traffic (req/s, latency, errors/s) and cost (what a
tenant's requests take: instructions, pages, memory, bytes, failures by
kind); `c` switches. Only cells whose text changed are redrawn: an idle
console should cost next to nothing."""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable

from mtd.engine.safe_text import escape
from mtd.engine.tenants import NO_TENANT

from ..format import rate, size, us
from ..messages import Snapshot, TenantOpened, TenantSelected

TRAFFIC = (("tenant", "tenant"), ("hosts", "hosts"), ("version", "version"),
           ("build", "build"), ("state", "state"), ("tier", "tier"), ("rps", "req/s"), ("p50", "p50"),
           ("p99", "p99"), ("errs", "errors/s"))
COST = (("tenant", "tenant"), ("instr_p50", "instr p50"),
        ("instr_p99", "instr p99"), ("pages", "pages/req"), ("peak", "peak mem"),
        ("bytes_in", "in"), ("bytes_out", "out"), ("budget", "budget"), ("memory", "memory"),
        ("fault", "fault"), ("bad_response", "bad resp"), ("overloaded", "overload"))
VIEWS = {"traffic": TRAFFIC, "cost": COST}
FAILURE_KINDS = ("budget", "memory", "fault", "bad_response", "overloaded")
COLUMNS = TRAFFIC  # the default view (kept for callers that list the columns)


def state_text(status) -> Text:
    if status is None:
        return Text("-", style="dim")
    if status.state == "serving" and status.error:
        return Text("serving, build failed", style="bold yellow")
    style = {"serving": "bold green", "building": "bold yellow", "error": "bold red"}
    return Text(status.state, style=style.get(status.state, ""))


def tier_text(status, cost: dict) -> Text:
    """The serving version's execution tier, and once it is translated, the
    share of the guest instructions its requests ran translated."""
    if status is None or not status.version:
        return Text("-", style="dim")
    if status.tier != "translated":
        style = {"optimising": "yellow", "translating": "yellow", "failed": "bold red"}
        return Text(status.tier, style=style.get(status.tier, "dim"))
    total = cost.get("instructions_total", 0)
    share = f" {100 * cost.get('translated_instructions', 0) / total:.0f}%" if total else ""
    return Text("translated" + share, style="green")


def _count(value: int) -> Text:
    return Text(f"{value:,}", justify="right", style="bold red" if value else "dim")


class TenantTable(DataTable):
    """Tenants with version, state, req/s, latency and errors/s (or their cost)."""

    BINDINGS = [Binding("enter", "select_cursor", "Detail")]

    def __init__(self, **kwargs) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.filter = ""
        self.view = "traffic"
        self._snapshot: Snapshot | None = None
        self._shown: dict[str, list] = {}  # row -> the cells as drawn (to skip unchanged ones)

    def on_mount(self) -> None:
        self._add_columns()

    def _add_columns(self) -> None:
        for key, label in VIEWS[self.view]:
            self.add_column(label, key=key)

    @property
    def selected(self) -> str | None:
        if self.row_count == 0:
            return None
        try:
            key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key
        except Exception:
            return None
        return None if key.value == NO_TENANT else key.value

    def set_filter(self, text: str) -> None:
        self.filter = text.strip().lower()
        if self._snapshot:
            self.show(self._snapshot)

    def set_view(self, view: str) -> None:
        """"traffic" or "cost": the columns shown."""
        if view == self.view:
            return
        before = self.selected
        self.view = view
        self.clear(columns=True)
        self._shown.clear()
        self._add_columns()
        if self._snapshot:
            self.show(self._snapshot)
        if before in [k.value for k in self.rows]:
            self.move_cursor(row=[k.value for k in self.rows].index(before))

    def _visible(self, snapshot: Snapshot) -> list[str]:
        names = sorted(set(snapshot.statuses) | {n for n in snapshot.stats if n != NO_TENANT})
        if snapshot.stats.get(NO_TENANT, {}).get("requests"):
            names.append(NO_TENANT)
        if self.filter:
            names = [n for n in names if self.filter in n.lower()]
        return names

    def _cells(self, name: str, snapshot: Snapshot) -> list:
        status = snapshot.statuses.get(name)
        stats = snapshot.stats.get(name, {})
        label = Text(escape(name), style="bold" if status else "dim")
        if self.view == "cost":
            cost = stats.get("cost", {})
            instructions = cost.get("instructions", {})
            counted = instructions.get("count", 0)
            errors = stats.get("errors", {})
            return [label,
                    Text(f"{instructions.get('p50', 0):,}" if counted else "-", justify="right"),
                    Text(f"{instructions.get('p99', 0):,}" if counted else "-", justify="right"),
                    Text(f"{cost.get('pages_copied_per_request', 0.0):.2f}" if counted else "-",
                         justify="right"),
                    Text(size(cost.get("peak_memory_bytes", 0)) if counted else "-", justify="right"),
                    Text(size(cost.get("bytes_in", 0)), justify="right"),
                    Text(size(cost.get("bytes_out", 0)), justify="right"),
                    *(_count(errors.get(kind, 0)) for kind in FAILURE_KINDS)]
        row = snapshot.rows.get(name, {})
        latency = stats.get("latency", {})
        if status is None:
            hosts, version, build = "", "", ""
        else:
            # Text, not str: a str cell would be read as markup. Hosts come
            # from the tenant's tenant.toml.
            hosts = Text(escape(", ".join(status.hosts)) + (" (default)" if status.default else ""))
            version = f"v{status.version}" if status.version else "-"
            if status.loaded_at is None:
                build = "-"
            else:
                build = "cached" if status.cached else f"{status.build_seconds:.1f} s"
        errors = row.get("errors_rps", 0.0)
        return [label, hosts, version, build, state_text(status), tier_text(status, stats.get("cost", {})),
                Text(rate(row.get("rps", 0.0)), justify="right"),
                Text(us(latency.get("p50_us")), justify="right"),
                Text(us(latency.get("p99_us")), justify="right"),
                Text(rate(errors), justify="right", style="bold red" if errors else "")]

    def show(self, snapshot: Snapshot) -> None:
        self._snapshot = snapshot
        before = self.selected
        names = self._visible(snapshot)
        current = [k.value for k in self.rows]
        columns = VIEWS[self.view]
        if current != names:
            self.clear()
            self._shown.clear()
            for name in names:
                cells = self._cells(name, snapshot)
                self.add_row(*cells, key=name)
                self._shown[name] = [_drawn(c) for c in cells]
            if before in names:
                self.move_cursor(row=names.index(before))
        else:
            for name in names:
                shown = self._shown.setdefault(name, [None] * len(columns))
                for i, ((column, _), value) in enumerate(zip(columns, self._cells(name, snapshot))):
                    drawn = _drawn(value)
                    if shown[i] != drawn:  # an unchanged cell costs no redraw
                        shown[i] = drawn
                        self.update_cell(name, column, value, update_width=True)
        after = self.selected
        if after and after != before:
            self.post_message(TenantSelected(after))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        if event.row_key.value and event.row_key.value != NO_TENANT:
            self.post_message(TenantSelected(event.row_key.value))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value and event.row_key.value != NO_TENANT:
            self.post_message(TenantOpened(event.row_key.value))


def _drawn(cell) -> tuple:
    """What a cell looks like, to compare with what is on screen."""
    if isinstance(cell, Text):
        return cell.plain, str(cell.style), cell.justify
    return (cell,)
