"""The tenants table: one row per tenant, refreshed on every engine tick."""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable

from mtd.engine.safe_text import escape

from ..format import rate, us
from ..messages import Snapshot, TenantOpened, TenantSelected

COLUMNS = (("tenant", "tenant"), ("hosts", "hosts"), ("version", "version"),
           ("build", "build"), ("state", "state"), ("rps", "req/s"), ("p50", "p50"),
           ("p99", "p99"), ("errs", "errors/s"))
UNROUTED = "(unrouted)"


def state_text(status) -> Text:
    if status is None:
        return Text("-", style="dim")
    if status.state == "serving" and status.error:
        return Text("serving, build failed", style="bold yellow")
    style = {"serving": "bold green", "building": "bold yellow", "error": "bold red"}
    return Text(status.state, style=style.get(status.state, ""))


class TenantTable(DataTable):
    """Tenants with version, state, req/s, latency and errors/s."""

    BINDINGS = [Binding("enter", "select_cursor", "Detail")]

    def __init__(self, **kwargs) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.filter = ""
        self._snapshot: Snapshot | None = None

    def on_mount(self) -> None:
        for key, label in COLUMNS:
            self.add_column(label, key=key)

    @property
    def selected(self) -> str | None:
        if self.row_count == 0:
            return None
        try:
            key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key
        except Exception:
            return None
        return None if key.value == UNROUTED else key.value

    def set_filter(self, text: str) -> None:
        self.filter = text.strip().lower()
        if self._snapshot:
            self.show(self._snapshot)

    def _visible(self, snapshot: Snapshot) -> list[str]:
        names = sorted(set(snapshot.statuses) | {n for n in snapshot.stats if n})
        if snapshot.stats.get("", {}).get("requests"):
            names.append(UNROUTED)
        if self.filter:
            names = [n for n in names if self.filter in n.lower()]
        return names

    def _cells(self, name: str, snapshot: Snapshot) -> list:
        key = "" if name == UNROUTED else name
        status = snapshot.statuses.get(key)
        stats = snapshot.stats.get(key, {})
        row = snapshot.rows.get(key, {})
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
        return [Text(escape(name), style="bold" if status else "dim"), hosts, version, build,
                state_text(status),
                Text(rate(row.get("rps", 0.0)), justify="right"),
                Text(us(latency.get("p50")), justify="right"),
                Text(us(latency.get("p99")), justify="right"),
                Text(rate(errors), justify="right", style="bold red" if errors else "")]

    def show(self, snapshot: Snapshot) -> None:
        self._snapshot = snapshot
        before = self.selected
        names = self._visible(snapshot)
        current = [k.value for k in self.rows]
        if current != names:
            self.clear()
            for name in names:
                self.add_row(*self._cells(name, snapshot), key=name)
            if before in names:
                self.move_cursor(row=names.index(before))
        else:
            for name in names:
                for (column, _), value in zip(COLUMNS, self._cells(name, snapshot)):
                    self.update_cell(name, column, value, update_width=True)
        after = self.selected
        if after and after != before:
            self.post_message(TenantSelected(after))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        if event.row_key.value and event.row_key.value != UNROUTED:
            self.post_message(TenantSelected(event.row_key.value))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value and event.row_key.value != UNROUTED:
            self.post_message(TenantOpened(event.row_key.value))
