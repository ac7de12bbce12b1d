"""The Textual console: drives an embedded engine, shows each tenant's
req/s and latency live, reloads on a key press and runs load tests."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import asdict
from pathlib import Path
from typing import Iterable

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from mtd.engine import Engine, EngineConfig, LoadFailed
from mtd.engine.loadtest import LoadTest, LoadTestResult
from mtd.engine.watcher import TenantWatcher

from .headless import RateTracker
from .messages import EngineTick, FilterChanged, LogsArrived, Snapshot, TenantOpened, TenantSelected
from .screens import (DashboardScreen, ExportPrompt, FilterPrompt, HelpScreen, LoadTestForm,
                      LoadTestRequest, LoadTestScreen, TenantDetailScreen)
from .smoke import smoke_get

HISTORY = 240  # samples of req/s kept per tenant: a minute at 4 per second


class ConsoleApp(App):
    TITLE = "mtd console"
    CSS_PATH = "console.tcss"
    BINDINGS = [
        Binding("r", "reload", "Reload"),
        Binding("R", "reload_all", "Reload all"),
        Binding("l", "load_test", "Load test"),
        Binding("enter", "detail", "Detail"),
        Binding("slash", "filter", "Filter"),
        Binding("question_mark", "help", "Help"),
        Binding("q", "quit", "Quit"),
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True),
    ]

    def __init__(self, config: EngineConfig, watch: bool = True) -> None:
        super().__init__()
        self.config = config
        self.watch_files = watch
        self.engine: Engine | None = None
        self.watcher: TenantWatcher | None = None
        self.started = False  # engine.start() returned
        self.start_error: str | None = None
        self.snapshot: Snapshot | None = None
        self.selected: str | None = None
        self.tenant_filter = ""
        self.load_runs: list[tuple[LoadTestResult, float]] = []  # (result, started at)
        self.comparisons: list[dict] = []
        self.active_tests: set[LoadTest] = set()
        self._rates = RateTracker(error_rates=True)
        self._history: dict[str, deque[float]] = {}
        self._stop_lock = threading.Lock()
        self._stopped = False

    def get_default_screen(self) -> Screen:
        return DashboardScreen()

    # -- engine lifecycle --------------------------------------------------

    def on_mount(self) -> None:
        self.sub_title = "building tenants…"
        self.set_interval(0.25, self.poll_engine)
        self.start_engine()

    @work(thread=True, exclusive=True, group="engine")
    def start_engine(self) -> None:
        try:
            engine = Engine(self.config)
            self.engine = engine  # the table shows tenants as they build
            engine.start()
        except RuntimeError as e:  # e.g. the port is taken
            self.start_error = str(e)
            self.call_from_thread(self.exit, None, 1, f"mtd-console: {e}")
            return
        if self.watch_files:
            watcher = TenantWatcher(engine)
            watcher.start()
            self.watcher = watcher
        self.started = True
        admin = f" · admin :{engine.admin_port}" if engine.admin_port else ""
        self.call_from_thread(setattr, self, "sub_title",
                              f"serving on http://{self.config.host}:{engine.port}/{admin}")

    def stop_engine(self) -> None:
        """Stops load tests, the watcher and the engine; safe to call twice."""
        with self._stop_lock:
            if self._stopped:
                return
            self._stopped = True
        for test in list(self.active_tests):
            test.stop()
        if self.watcher:
            self.watcher.stop()
        if self.engine:
            self.engine.stop()

    def poll_engine(self) -> None:
        engine = self.engine
        if engine is None or self._stopped:
            return
        try:
            stats = engine.stats()
        except RuntimeError:
            return
        now = time.monotonic()
        rows = {row["name"]: row for row in self._rates.update(stats, now)}
        for name, row in rows.items():
            self._history.setdefault(name, deque(maxlen=HISTORY)).append(row["rps"])
        self.snapshot = Snapshot(
            at=time.time(), statuses=dict(engine.tenants),
            stats={entry["name"]: entry for entry in stats}, rows=rows,
            history={name: list(h) for name, h in self._history.items()})
        records = engine.drain_logs()
        if records:
            self.get_screen_dashboard().post_message(LogsArrived(records))
        for screen in self.screen_stack:
            screen.post_message(EngineTick(self.snapshot))

    def get_screen_dashboard(self) -> DashboardScreen:
        return self.screen_stack[0]

    # -- messages from widgets ---------------------------------------------

    def on_tenant_selected(self, message: TenantSelected) -> None:
        self.selected = message.name

    def on_tenant_opened(self, message: TenantOpened) -> None:
        self.selected = message.name
        self.push_screen(TenantDetailScreen(message.name))

    # -- actions -------------------------------------------------------------

    def _need_engine(self) -> bool:
        if not self.started:
            self.notify("the engine is still building its tenants", severity="warning")
            return False
        return True

    def action_reload(self) -> None:
        if not self._need_engine():
            return
        if not self.selected:
            self.notify("select a tenant first", severity="warning")
            return
        self.reload_tenants([self.selected])

    def action_reload_all(self) -> None:
        if self._need_engine():
            self.reload_tenants(sorted(self.engine.tenants))

    @work(thread=True, group="reload")
    def reload_tenants(self, names: list[str]) -> None:
        """Rebuild and swap each tenant (the engine logs how it went), then
        a smoke GET to each that serves."""
        for name in names:
            self.engine.note(name, "reload requested")
            try:
                status = self.engine.reload(name)
            except LoadFailed:
                continue  # the engine logged the error; the last good version serves
            if status.state == "serving":
                self.engine.note(name, smoke_get(self.engine, name))

    def action_load_test(self) -> None:
        if not self._need_engine():
            return
        serving = sorted(n for n, s in self.engine.tenants.items() if s.version > 0)
        if not serving:
            self.notify("no tenant is serving", severity="warning")
            return

        def launch(request: LoadTestRequest | None) -> None:
            if request is not None:
                if isinstance(self.screen, LoadTestScreen):
                    self.screen.action_stop()
                    self.pop_screen()
                self.push_screen(LoadTestScreen(request))

        self.push_screen(LoadTestForm(serving, self.selected, self.config.vanilla), launch)

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action == "detail":  # only the dashboard has a tenant to open
            return isinstance(self.screen, DashboardScreen)
        return True

    def action_detail(self) -> None:
        if self.selected and isinstance(self.screen, DashboardScreen):
            self.push_screen(TenantDetailScreen(self.selected))

    def action_filter(self) -> None:
        def apply(text: str | None) -> None:
            if text is not None:
                self.tenant_filter = text
                self.get_screen_dashboard().post_message(FilterChanged(text))

        self.push_screen(FilterPrompt(self.tenant_filter), apply)

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_export_runs(self, path: str | None = None) -> None:
        """Writes this session's load test runs as JSON; asks where unless given."""
        if not self.load_runs:
            self.notify("no load test runs yet", severity="warning")
            return
        if path is not None:
            self.export_runs(Path(path))
            return
        default = f"mtd-loadtests-{time.strftime('%Y%m%d-%H%M%S')}.json"
        self.push_screen(ExportPrompt(default),
                         lambda chosen: chosen and self.export_runs(Path(chosen)))

    def export_runs(self, path: Path) -> Path | None:
        path = path.expanduser()
        document = {
            "exported_at": time.time(),
            "server_threads": self.engine.server.threads if self.engine else None,
            "runs": [{"started_at": started, "spec": asdict(result.spec), "label": result.spec.label,
                      "rps": result.rps, "failed": result.failed, "report": result.report}
                     for result, started in self.load_runs],
            "comparisons": self.comparisons,
        }
        try:
            path.write_text(json.dumps(document, indent=2) + "\n")
        except OSError as e:
            self.notify(f"export failed: {e}", severity="error")
            return None
        where = path.resolve()
        self.engine.note("", f"exported {len(self.load_runs)} load test run(s) to {where}")
        self.notify(f"exported to {where}")
        return where

    async def action_quit(self) -> None:
        self.sub_title = "stopping…"
        self.stop_engine_then_exit()

    @work(thread=True, exclusive=True, group="engine")
    def stop_engine_then_exit(self) -> None:
        self.stop_engine()
        self.call_from_thread(self.exit, None, 1 if self.start_error else 0)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield SystemCommand("Reload tenant", "Rebuild and swap the selected tenant (r)",
                            self.action_reload)
        yield SystemCommand("Reload all tenants", "Rebuild and swap every tenant (R)",
                            self.action_reload_all)
        yield SystemCommand("Load test", "Launch a load test against a tenant (l)",
                            self.action_load_test)
        yield SystemCommand("Tenant detail", "Limits, latency and last error of the selected "
                            "tenant (enter)", self.action_detail)
        yield SystemCommand("Filter", "Filter the tenants and the log by tenant (/)",
                            self.action_filter)
        yield SystemCommand("Export load test runs", "Write this session's runs as JSON",
                            self.action_export_runs)
        yield SystemCommand("Keys", "Show what every key does (?)", self.action_help)
        yield from (c for c in super().get_system_commands(screen) if c.title != "Quit")
        yield SystemCommand("Quit", "Stop the watcher and the engine, then quit (q)",
                            self.action_quit)


def run_console(config: EngineConfig, watch: bool = True) -> int:
    app = ConsoleApp(config, watch=watch)
    try:
        app.run()
    finally:
        app.stop_engine()  # whatever ended the app, the server stops
    return app.return_code or 0
