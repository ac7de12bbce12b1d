"""The Textual console: drives an embedded engine, shows each tenant's
req/s and latency live, reloads on a key press and runs load tests."""

from __future__ import annotations

import json
import sys
import threading
import time
import traceback
from collections import deque
from dataclasses import asdict
from pathlib import Path
from typing import Iterable, TextIO

from textual import work
from textual._context import active_message_pump
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.widget import Widget

from mtd.engine import Engine, EngineConfig, LoadFailed
from mtd.engine.loadtest import LoadTest, LoadTestResult
from mtd.engine.watcher import TenantWatcher

from .form_memory import FormMemory
from .headless import RateTracker
from .messages import EngineTick, FilterChanged, LogsArrived, Snapshot, TenantOpened, TenantSelected
from .screens import (DashboardScreen, ExportPrompt, FilterPrompt, HelpScreen, LoadTestForm,
                      LoadTestRequest, LoadTestScreen, RequestScreen, TenantDetailScreen,
                      TenantLogScreen)
from .smoke import smoke_get
from .tenant_logs import TenantLogs

HISTORY = 240  # samples of req/s kept per tenant: a minute at 4 per second


class ConsoleApp(App):
    TITLE = "mtd console"
    CSS_PATH = Path(__file__).parent / "console.tcss"  # also for subclasses elsewhere
    BINDINGS = [
        Binding("r", "reload", "Reload"),
        Binding("R", "reload_all", "Reload all"),
        Binding("l", "load_test", "Load test"),
        Binding("enter", "detail", "Detail"),
        Binding("o", "tenant_log", "Tenant log"),
        Binding("t", "request", "Request"),
        Binding("slash", "filter", "Filter"),
        Binding("question_mark", "help", "Help"),
        Binding("q", "quit", "Quit"),
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True),
    ]

    def __init__(self, config: EngineConfig, watch: bool = True,
                 state_dir: Path | None = None) -> None:
        super().__init__()
        self.config = config
        # What the console keeps between sessions (the load test form's
        # values, its error log): <cache>/console unless given.
        self.state_dir = Path(state_dir or Path(config.cache_dir) / "console").expanduser().resolve()
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
        self._rates = RateTracker(error_rates=True, window=1.0)
        self._history: dict[str, deque[float]] = {}
        self._last_tick: tuple | None = None  # what the last EngineTick showed
        self.tenant_logs = TenantLogs()
        self._stop_lock = threading.Lock()
        self._stopped = False
        self._start_done = threading.Event()  # start_engine() finished, however it ended
        # An exception that ended the UI (see _handle_exception): run_console
        # then keeps the engine serving without it.
        self.ui_error: BaseException | None = None

    def get_default_screen(self) -> Screen:
        return DashboardScreen()

    # -- engine lifecycle --------------------------------------------------

    def on_mount(self) -> None:
        self.sub_title = "building tenants…"
        self.set_interval(0.25, self.poll_engine)
        self.start_engine()

    @work(thread=True, exclusive=True, group="engine", exit_on_error=False)
    def start_engine(self) -> None:
        try:
            try:
                engine = Engine(self.config)
                self.engine = engine  # the table shows tenants as they build
                engine.start()
            except Exception as e:  # e.g. the port is taken (RuntimeError)
                self.start_error = str(e)
                self.call_from_thread(self.exit, None, 1, f"mtd-console: {e}")
                return
            if self.watch_files:
                watcher = TenantWatcher(engine)
                watcher.start()
                self.watcher = watcher
            self.started = True
        finally:
            self._start_done.set()
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
            # Full from the start (zeros): an idle chart does not change.
            self._history.setdefault(name, deque([0.0] * HISTORY, maxlen=HISTORY)).append(row["rps"])
        statuses = dict(engine.tenants)
        self.snapshot = Snapshot(
            at=time.time(), statuses=statuses,
            stats={entry["name"]: entry for entry in stats}, rows=rows,
            history={name: list(h) for name, h in self._history.items()})
        records = engine.drain_logs()
        if records:
            self.tenant_logs.feed(records)
            for screen in self.screen_stack:
                screen.post_message(LogsArrived(records))
        # Screens are told only when something they show moved: an idle
        # console used ~8% of a core redrawing the same figures.
        changed = (tuple((e["name"], e["requests"], e["in_flight"], rows[e["name"]]["rps"],
                          rows[e["name"]].get("errors_rps")) for e in stats),
                   tuple((s.name, s.state, s.version, s.error, s.loaded_at, s.save_to_serving_s)
                         for s in statuses.values()),
                   len(self.screen_stack))
        if changed == self._last_tick:
            return
        self._last_tick = changed
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

    @work(thread=True, group="reload", exit_on_error=False)
    def reload_tenants(self, names: list[str]) -> None:
        """Rebuild and swap each tenant (the engine logs how it went), then
        a smoke GET to each that serves."""
        for name in names:
            self.engine.note(name, "reload requested", event="reload_requested")
            try:
                status = self.engine.reload(name)
                if status.state == "serving":
                    line, fields = smoke_get(self.engine, name)
                    self.engine.note(name, line, event="smoke", **fields)
            except LoadFailed:
                continue  # the engine logged the error; the last good version serves
            except Exception as e:  # never let one tenant's reload end the console
                self.engine.note(name, f"error: reload failed: {type(e).__name__}: {e}",
                                 event="error")

    def action_load_test(self) -> None:
        if not self._need_engine():
            return
        serving = sorted(n for n, s in self.engine.tenants.items() if s.version > 0)
        if not serving:
            self.notify("no tenant is serving", severity="warning")
            return

        def launch(request: LoadTestRequest | None) -> None:
            # The form may sit on top of the load test screen (`l` there):
            # that screen runs the new test, keeping the session's runs.
            if request is None:
                return
            self.form_memory.remember(request.tenant, request.remembered())
            existing = next((s for s in self.screen_stack if isinstance(s, LoadTestScreen)), None)
            if existing is None:
                self.push_screen(LoadTestScreen(request))
            else:
                existing.start(request)

        self.push_screen(LoadTestForm(serving, self.selected, self.config.vanilla,
                                      self.form_memory.load()), launch)

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action in ("detail", "tenant_log"):  # the dashboard's selected tenant
            return isinstance(self.screen, DashboardScreen)
        if action == "request":  # the dashboard's, or the one a tenant screen shows
            return isinstance(self.screen, (DashboardScreen, TenantDetailScreen, TenantLogScreen))
        return True

    def action_detail(self) -> None:
        if self.selected and isinstance(self.screen, DashboardScreen):
            self.push_screen(TenantDetailScreen(self.selected))

    def action_tenant_log(self) -> None:
        if not self.selected:
            self.notify("select a tenant first", severity="warning")
        elif isinstance(self.screen, DashboardScreen):
            self.push_screen(TenantLogScreen(self.selected))

    def action_request(self, tenant: str | None = None) -> None:
        """Send a request to the tenant (the selected one unless given)."""
        if not self._need_engine():
            return
        tenant = tenant or getattr(self.screen, "tenant", None) or self.selected
        if not tenant:
            self.notify("select a tenant first", severity="warning")
            return
        status = self.engine.tenants.get(tenant)
        host = status.hosts[0] if status and status.hosts else ""
        self.push_screen(RequestScreen(tenant, host))

    def action_filter(self) -> None:
        def apply(text: str | None) -> None:
            if text is not None:
                self.tenant_filter = text
                self.get_screen_dashboard().post_message(FilterChanged(text))

        self.push_screen(FilterPrompt(self.tenant_filter), apply)

    def action_toggle_cost(self) -> None:
        dashboard = self.get_screen_dashboard()
        if self.screen is not dashboard:
            self.notify("the cost view is the dashboard's table (escape back first)",
                        severity="warning")
            return
        dashboard.action_toggle_cost()

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

    @work(thread=True, exclusive=True, group="engine", exit_on_error=False)
    def stop_engine_then_exit(self) -> None:
        try:
            self.stop_engine()
        finally:
            self.call_from_thread(self.exit, None, 1 if self.start_error else 0)

    # -- failures of the UI itself -------------------------------------------

    def _handle_exception(self, error: Exception) -> None:
        """Textual ends the app on any unhandled exception, which used to take
        the engine and every tenant's traffic with it. A pushed screen (or a
        widget on one) that fails is closed, and the error is shown and
        logged; the console goes on. A failure of the app itself or of the
        dashboard still ends the UI, and run_console then keeps the engine
        serving without it."""
        screen = _screen_of(active_message_pump.get(None))
        where = type(screen).__name__ if screen is not None else "the console"
        self._report_ui_error(error, where)
        stack = self.screen_stack
        if screen is None or (stack and screen is stack[0]):
            self.ui_error = error
            super()._handle_exception(error)
            return
        # Its message loop has stopped: the screen cannot recover.
        self.call_later(self._close_failed_screen, screen)

    def _report_ui_error(self, error: BaseException, where: str) -> None:
        try:
            path = self.errors_log
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "a") as log:
                log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} in {where}\n")
                log.write("".join(traceback.format_exception(error)))
            summary = f"{type(error).__name__}: {error}".splitlines()[0][:300]
            if self.engine is not None:
                self.engine.note("", f"error: console: {where} failed: {summary} "
                                     f"(traceback in {path}); the engine keeps serving",
                                 event="console_error", where=where, traceback_file=str(path))
            self.notify(f"{where} failed and was closed: {summary}\n(traceback in {path})",
                        title="console error", severity="error", timeout=15, markup=False)
        except Exception:  # reporting must never be what ends the console
            pass

    async def _close_failed_screen(self, screen: Screen) -> None:
        while screen in self.screen_stack and len(self.screen_stack) > 1:
            top = self.screen_stack[-1]
            if isinstance(top, LoadTestScreen):
                top.action_stop()
            await self.pop_screen()

    @property
    def errors_log(self) -> Path:
        return self.state_dir / "errors.log"

    @property
    def form_memory(self) -> FormMemory:
        return FormMemory(self.state_dir / "loadtest-form.json")

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield SystemCommand("Reload tenant", "Rebuild and swap the selected tenant (r)",
                            self.action_reload)
        yield SystemCommand("Reload all tenants", "Rebuild and swap every tenant (R)",
                            self.action_reload_all)
        yield SystemCommand("Load test", "Launch a load test against a tenant (l)",
                            self.action_load_test)
        yield SystemCommand("Tenant detail", "Limits, latency and last error of the selected "
                            "tenant (enter)", self.action_detail)
        yield SystemCommand("Tenant log", "Output, builds and errors of the selected tenant (o)",
                            self.action_tenant_log)
        yield SystemCommand("Send a request", "Send a request to the selected tenant and see "
                            "the answer (t)", self.action_request)
        yield SystemCommand("Cost view", "Switch the table between traffic and cost per request (c)",
                            self.action_toggle_cost)
        yield SystemCommand("Filter", "Filter the tenants and the log by tenant (/)",
                            self.action_filter)
        yield SystemCommand("Export load test runs", "Write this session's runs as JSON",
                            self.action_export_runs)
        yield SystemCommand("Keys", "Show what every key does (?)", self.action_help)
        # Textual's own "Keys" (its key panel) and "Quit" (no clean stop) are
        # replaced by ours: one entry each.
        yield from (c for c in super().get_system_commands(screen) if c.title not in ("Keys", "Quit"))
        yield SystemCommand("Quit", "Stop the watcher and the engine, then quit (q)",
                            self.action_quit)


def _screen_of(pump) -> Screen | None:
    """The screen a failing message pump (a screen or a widget) belongs to."""
    if isinstance(pump, Screen):
        return pump
    if isinstance(pump, Widget):
        try:
            return pump.screen
        except Exception:  # not mounted (yet or any more)
            return None
    return None


def run_console(config: EngineConfig, watch: bool = True, app: ConsoleApp | None = None,
                headless: bool = False, out: TextIO = sys.stdout) -> int:
    """Runs the console; `app` and `headless` are for tests. If the UI
    fails, the engine goes on serving headless until SIGINT or SIGTERM."""
    app = app or ConsoleApp(config, watch=watch)
    try:
        app.run(headless=headless)
        if app.ui_error is not None and app.engine is not None and not app._stopped:
            return keep_serving_without_ui(app, out)
    finally:
        app.stop_engine()  # whatever ended the app, the server stops
    return app.return_code or 0


def keep_serving_without_ui(app: ConsoleApp, out: TextIO) -> int:
    from .headless import serve_until_stopped
    app._start_done.wait()  # a UI that failed during the builds: let them finish
    if not app.started:
        return 1
    error = app.ui_error
    print(f"mtd-console: the console failed ({type(error).__name__}: {error}; traceback in "
          f"{app.errors_log}). The engine keeps serving on "
          f"http://{app.config.host}:{app.engine.port}/ without it: log lines and one stats "
          f"line per second follow; Ctrl-C or SIGTERM stops it.", file=sys.stderr, flush=True)
    return serve_until_stopped(app.engine, app.watcher, out=out)
