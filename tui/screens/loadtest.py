"""The load test screen: live req/s and progress while the generator runs
(in C++ threads; `wait()` runs in a thread worker), then the results of
every run of this session, exportable as JSON."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import replace

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Label, ProgressBar, Sparkline, Static

from mtd.engine.loadtest import Comparison, LoadTest, LoadTestResult, LoadTestSpec

from ..format import rate, us
from ..messages import EngineTick
from .prompts import LoadTestRequest

RESULT_COLUMNS = ("#", "started", "target", "path", "s", "conns", "rate", "requests", "req/s",
                  "p50", "p99", "max", "failed")


def specs_for(request: LoadTestRequest) -> list[LoadTestSpec]:
    base = LoadTestSpec(tenant=request.tenant, path=request.path, duration=request.duration,
                        connections=request.connections, rate=request.rate)
    return [base, replace(base, vanilla=True)] if request.compare else [base]


class LoadTestScreen(Screen):
    BINDINGS = [
        ("escape", "back", "Back"),
        ("s", "stop", "Stop run"),
        ("e", "export", "Export JSON"),
        ("l", "app.load_test", "New test"),
    ]

    class RunFinished(Message):
        def __init__(self, generation: int, result: LoadTestResult, started_at: float) -> None:
            super().__init__()
            self.generation = generation
            self.result = result
            self.started_at = started_at

    class RunsDone(Message):
        def __init__(self, generation: int, error: str | None = None) -> None:
            super().__init__()
            self.generation = generation
            self.error = error

    def __init__(self, request: LoadTestRequest) -> None:
        # No fixed id: an id must be unique among the app's screens.
        super().__init__()
        self.request = request
        self.specs = specs_for(request)
        self.current: LoadTest | None = None
        self.index = 0  # which of self.specs is running
        self.running = False
        self.results: list[LoadTestResult] = []
        self._generation = 0  # one per start(): messages of a replaced run are told apart
        self._last: tuple[float, int] | None = None
        self._history: deque[float] = deque([0.0], maxlen=240)

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="lt-live-box"):
            yield Label(self._describe(), id="lt-title")
            yield ProgressBar(total=100, show_eta=False, id="lt-progress")
            yield Static("starting…", id="lt-live")
            yield Sparkline([0.0], summary_function=max, id="lt-rate")
        yield Static("", id="lt-ratio")
        yield DataTable(id="lt-results", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def _describe(self) -> str:
        r = self.request
        how = f"{r.rate:,.0f} req/s" if r.rate else "as fast as possible"
        vs = ", then the same against /_mtd/vanilla" if r.compare else ""
        return (f"[b]Load test[/b] {r.tenant} {r.path}: {r.duration:g} s, "
                f"{r.connections} connections, {how}{vs}")

    def on_mount(self) -> None:
        table = self.query_one("#lt-results", DataTable)
        table.border_title = "runs this session"
        for column in RESULT_COLUMNS:
            table.add_column(column, key=column)
        for number, (result, started_at) in enumerate(self.app.load_runs, 1):
            self._add_result_row(number, result, started_at)
        self.set_interval(0.25, self._poll)
        self.start(self.request)

    # -- running ------------------------------------------------------------

    def start(self, request: LoadTestRequest) -> None:
        """Runs `request` on this screen (`l` here opens the form again); a
        run still going is stopped first, and still reported."""
        self.action_stop()
        self._generation += 1
        self.request, self.specs = request, specs_for(request)
        self.index, self.results, self._last = 0, [], None
        self._history = deque([0.0], maxlen=240)
        self.running = True
        self.query_one("#lt-title", Label).update(self._describe())
        self.query_one(ProgressBar).update(progress=0)
        self.query_one("#lt-live", Static).update("starting…")
        self.query_one("#lt-ratio", Static).update("")
        self.run_tests(self._generation, self.specs)

    @work(thread=True, group="loadtest", exit_on_error=False)
    def run_tests(self, generation: int, specs: list[LoadTestSpec]) -> None:
        engine = self.app.engine
        try:
            for index, spec in enumerate(specs):
                if not self.running or generation != self._generation:
                    break
                test = LoadTest(engine, spec)
                started = time.time()
                self.index, self._last = index, None
                self.current = test.start()
                self.app.active_tests.add(test)
                try:
                    result = test.wait()  # releases the GIL while C++ threads work
                finally:
                    self.app.active_tests.discard(test)
                    if self.current is test:
                        self.current = None
                self.post_message(self.RunFinished(generation, result, started))
                if index + 1 < len(specs):
                    time.sleep(0.2)  # let connections close before the next run
        except Exception as e:  # ValueError, RuntimeError: a spec the generator refused
            self.post_message(self.RunsDone(generation, f"{type(e).__name__}: {e}"))
            return
        self.post_message(self.RunsDone(generation))

    def _poll(self) -> None:
        test = self.current
        if test is None:
            return
        p = test.progress()
        now = time.monotonic()
        if self._last is not None:
            then, before = self._last
            if now > then:
                self._history.append((p["completed"] - before) / (now - then))
        self._last = (now, p["completed"])
        spec = self.specs[self.index]
        part = min(1.0, p["elapsed"] / spec.duration) if spec.duration else 0.0
        self.query_one(ProgressBar).update(progress=100 * (self.index + part) / len(self.specs))
        average = p["completed"] / p["elapsed"] if p["elapsed"] > 0 else 0.0
        self.query_one("#lt-live", Static).update(
            f"run {self.index + 1}/{len(self.specs)} [b]{spec.label}[/b]: {p['elapsed']:.1f} s, "
            f"{p['completed']:,} requests, {p['errors']:,} errors   "
            f"now [b]{rate(self._history[-1])}[/b] req/s, average {rate(average)} req/s"
            + self._server_latency)
        self.query_one("#lt-rate", Sparkline).data = list(self._history)

    _server_latency = ""

    def on_engine_tick(self, message: EngineTick) -> None:
        stats = message.snapshot.stats.get(self.request.tenant or "")
        if stats and self.current is not None and not self.specs[self.index].vanilla:
            lat = stats["latency"]
            self._server_latency = (f"\nserver-side latency of {self.request.tenant} "
                                    f"(since start): p50 {us(lat['p50_us'])}, p99 {us(lat['p99_us'])}")
        else:
            self._server_latency = ""

    def on_load_test_screen_run_finished(self, message: RunFinished) -> None:
        # A run replaced by a newer start() is still one of the session's runs.
        self.app.load_runs.append((message.result, message.started_at))
        if message.generation == self._generation:
            self.results.append(message.result)
        self._add_result_row(len(self.app.load_runs), message.result, message.started_at)
        self.app.engine.note(message.result.spec.tenant or "",
                             f"load test: {message.result.summary()}",
                             event="load_test", **message.result.fields())

    def on_load_test_screen_runs_done(self, message: RunsDone) -> None:
        if message.generation != self._generation:
            return
        self.running = False
        self.query_one(ProgressBar).update(progress=100)
        live = self.query_one("#lt-live", Static)
        if message.error:
            live.update(Text(f"load test failed: {message.error}", style="red"))
            return
        # The tenant's figures, also when the vanilla run came last.
        tenant = next((r for r in self.results if not r.spec.vanilla), None)
        lat = tenant.report["latency"] if tenant else None
        live.update(f"done: {tenant.spec.label} {rate(tenant.rps)} req/s, p50 {us(lat['p50_us'])}, "
                    f"p99 {us(lat['p99_us'])}" if tenant else "stopped")
        if self.request.compare and len(self.results) == 2:
            comparison = Comparison(self.results)
            try:
                ratio = comparison.ratio()
            except Exception:  # statistics.StatisticsError: vanilla served nothing
                return
            self.app.comparisons.append({"tenant": self.request.tenant, "ratio": ratio,
                                         "runs": [len(self.app.load_runs) - 1,
                                                  len(self.app.load_runs)]})
            vanilla = self.results[1]
            self.query_one("#lt-ratio", Static).update(
                f"sandboxed / vanilla req/s: [b]{ratio:.3f}[/b]  (vanilla {rate(vanilla.rps)} req/s, "
                f"p99 {us(vanilla.report['latency']['p99_us'])})")

    def _add_result_row(self, number: int, result: LoadTestResult, started_at: float) -> None:
        spec, report = result.spec, result.report
        lat = report["latency"]
        self.query_one("#lt-results", DataTable).add_row(
            str(number), time.strftime("%H:%M:%S", time.localtime(started_at)), spec.label,
            "/_mtd/vanilla" if spec.vanilla else spec.path, f"{report['seconds']:.1f}",
            str(spec.connections), f"{spec.rate:,.0f}" if spec.rate else "max",
            f"{report['requests']:,}", rate(result.rps), us(lat["p50_us"]), us(lat["p99_us"]),
            us(lat["max_us"]), f"{result.failed:,}", key=str(number))

    # -- actions --------------------------------------------------------------

    def action_stop(self) -> None:
        self.running = False
        if self.current is not None:
            self.current.stop()

    def action_back(self) -> None:
        self.action_stop()
        self.dismiss()

    def action_export(self) -> None:
        self.app.action_export_runs()
