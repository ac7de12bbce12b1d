"""Pilot tests of the Textual console (`mtd-console`): a real engine on a
free port with tenants from a temporary folder (hello, counter and a broken
one), driven key by key.

The screenshots shown in the README are written to screenshots/ when
MTD_SCREENSHOTS=1 (otherwise to the test's tmp dir, so a normal run leaves
the checkout clean):  MTD_SCREENSHOTS=1 ./mtd test -k tui
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from rich.console import Console

from mtd.engine import EngineConfig
from mtd.engine.loadtest import LoadTest, LoadTestSpec
from mtd.tui.app import ConsoleApp
from mtd.tui.format import rate, us
from mtd.tui.screens import (DashboardScreen, ExportPrompt, FilterPrompt, HelpScreen, LoadTestForm,
                             LoadTestScreen, RequestScreen, TenantDetailScreen, TenantLogScreen)
from mtd.tui.widgets import LogPanel, RateChart, SystemPanel, TenantTable

from conftest import REPO, SEED_PAGE, TENANTS

SIZE = (140, 40)
BROKEN_SOURCE = "def on_client_request():\n    return 'text/plain', 1 +\n"


@pytest.fixture(scope="module")
def tenants_dir(tmp_path_factory, bundled_elves):
    root = tmp_path_factory.mktemp("tui") / "tenants"
    for name in ("hello", "counter"):
        shutil.copytree(TENANTS / name, root / name)
    (root / "broken").mkdir()
    (root / "broken" / "app.py").write_text(BROKEN_SOURCE)
    (root / "broken" / "tenant.toml").write_text('hosts = ["broken.test"]\n')
    return root


@pytest.fixture
def shots(tmp_path) -> Path:
    if os.environ.get("MTD_SCREENSHOTS"):
        target = REPO / "screenshots"
        target.mkdir(exist_ok=True)
        return target
    return tmp_path


@pytest.fixture
def console(tenants_dir, cache_dir, tmp_path):
    """Runs `scenario(app, pilot)` in a console with a started engine; the
    console is always quit with `q`, which must stop the engine. Each test
    has its own console state (remembered form values, error log)."""

    def run(scenario, timeout: float = 90.0):
        config = EngineConfig(port=0, admin_port=0, threads=2, tenants_dir=tenants_dir,
                              cache_dir=cache_dir, translate=False)
        app = ConsoleApp(config, watch=True, state_dir=tmp_path / "console-state")

        async def main():
            async with app.run_test(size=SIZE) as pilot:
                await until(pilot, lambda: app.started, timeout=120)
                await until(pilot, lambda: app.snapshot is not None
                            and "hello" in app.snapshot.statuses)
                # The first builds are done: wait for the table to show it.
                table = app.screen_stack[0].query_one(TenantTable)
                await until(pilot, lambda: table.row_count == len(app.engine.tenants) and all(
                    table.get_cell(name, "state").plain != "building" for name in app.engine.tenants))
                await scenario(app, pilot)
                if app.is_running:
                    await pilot.press("q")
                    await until(pilot, lambda: not app.is_running, timeout=30)

        try:
            asyncio.run(asyncio.wait_for(main(), timeout))
        finally:
            app.stop_engine()
        return app

    return run


async def until(pilot, predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        await pilot.pause(0.05)
    raise AssertionError("condition not met in time")


async def select(app, pilot, name: str) -> None:
    table = app.screen.query_one(TenantTable)
    table.focus()
    await until(pilot, lambda: name in [key.value for key in table.rows])
    table.move_cursor(row=[key.value for key in table.rows].index(name))
    await until(pilot, lambda: app.selected == name)


def plain(widget) -> str:
    """What a Static shows, as plain text."""
    console = Console(width=200, file=io.StringIO(), record=True, color_system=None)
    console.print(widget.content)
    return console.export_text()


def log_text(app) -> str:
    return "\n".join(app.screen_stack[0].query_one(LogPanel).visible_lines)


def test_dashboard_shows_tenants_rates_system_and_log(console, shots):
    async def scenario(app, pilot):
        screen = app.screen
        table = screen.query_one(TenantTable)
        assert [k.value for k in table.rows] == ["broken", "counter", "hello"]
        assert table.get_cell("hello", "state").plain == "serving"
        assert table.get_cell("broken", "state").plain == "error"
        assert table.get_cell("hello", "version") == "v1"
        assert "hello.localhost (default)" in table.get_cell("hello", "hosts")
        await until(pilot, lambda: "Hello from Python" in log_text(app))
        assert "broken: app.py:2:" in log_text(app)
        assert "cpu0" in plain(screen.query_one(SystemPanel))

        await select(app, pilot, "hello")
        test = LoadTest(app.engine, LoadTestSpec(tenant="hello", duration=4, rate=3000,
                                                 connections=4, threads=1)).start()
        try:
            await until(pilot, lambda: float(table.get_cell("hello", "rps").plain.replace(",", ""))
                        > 100)
            await until(pilot, lambda: table.get_cell("hello", "p50").plain != "-")
            chart = screen.query_one(RateChart)
            assert chart.tenant == "hello" and max(app.snapshot.history["hello"]) > 100
            await pilot.pause(1.0)  # let the chart fill a little
            await pilot.pause()  # let what the test saw be drawn
            app.save_screenshot("dashboard.svg", str(shots))
        finally:
            test.stop()
            await asyncio.to_thread(test.wait)
        assert (shots / "dashboard.svg").read_text().startswith("<svg")

        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        assert "reload the selected tenant" in plain(app.screen.query_one("#help-keys"))
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, HelpScreen))

    console(scenario)


def test_r_reloads_selected_tenant_and_smoke_tests_it_R_reloads_all(console):
    async def scenario(app, pilot):
        await select(app, pilot, "hello")
        await pilot.press("r")
        await until(pilot, lambda: app.engine.tenants["hello"].version == 2)
        await until(pilot, lambda: "[hello] smoke: 200 in" in log_text(app))
        assert app.engine.tenants["counter"].version == 1
        table = app.screen.query_one(TenantTable)
        await until(pilot, lambda: table.get_cell("hello", "version") == "v2")

        await pilot.press("R")
        await until(pilot, lambda: app.engine.tenants["hello"].version == 3
                    and app.engine.tenants["counter"].version == 2)
        await until(pilot, lambda: "[counter] smoke: 200 in" in log_text(app))
        await until(pilot, lambda: log_text(app).count("broken: app.py:2:") >= 2)
        assert app.engine.tenants["broken"].state == "error"

    console(scenario)


def test_enter_opens_detail_with_limits_latency_and_error_line(console, shots):
    async def scenario(app, pilot):
        httpx.get(f"http://127.0.0.1:{app.engine.port}/", timeout=5)
        await select(app, pilot, "hello")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, TenantDetailScreen))
        detail = app.screen
        await until(pilot, lambda: "2,000,000" in plain(detail.query_one("#detail-limits")))
        # Waits for the request to be counted (it failed once on "count 0"
        # when the screen opened before the stats tick that counts it).
        await until(pilot, lambda: "µs" in plain(detail.query_one("#detail-latency")))
        latency = plain(detail.query_one("#detail-latency"))
        assert "p99.9" in latency and "µs" in latency
        assert "last error: none" in plain(detail.query_one("#detail-error"))
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, TenantDetailScreen))

        await select(app, pilot, "broken")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, TenantDetailScreen))
        await until(pilot, lambda: "app.py, line 2:" in plain(app.screen.query_one("#detail-error")))
        error = plain(app.screen.query_one("#detail-error"))
        assert "last error: broken: app.py:2:" in error
        assert "app.py, line 2:" in error
        # The line the error names, once, with a caret under where Python
        # stopped (the "+" with nothing after it).
        assert error.count("return 'text/plain', 1 +") == 1 and ">>>" not in error
        lines = error.splitlines()
        bad = next(i for i, l in enumerate(lines) if "return 'text/plain', 1 +" in l)
        assert lines[bad].startswith("> 2 │") and lines[bad + 1].strip() == "^"
        assert lines[bad + 1].index("^") == lines[bad].rindex("+")
        await pilot.pause()  # let what the test saw be drawn
        app.save_screenshot("tenant-error.svg", str(shots))
        # r on the detail screen reloads this tenant (it fails again: still an error)
        before = log_text(app).count("broken: app.py:2:")
        await pilot.press("r")
        await until(pilot, lambda: log_text(app).count("broken: app.py:2:") > before)
        await pilot.press("escape")

    console(scenario)


def test_slash_filters_log_and_table_by_tenant(console):
    async def scenario(app, pilot):
        await until(pilot, lambda: "[counter]" in log_text(app) and "[hello]" in log_text(app))
        await pilot.press("slash")
        await until(pilot, lambda: isinstance(app.screen, FilterPrompt))
        await pilot.press(*"count", "enter")
        await until(pilot, lambda: not isinstance(app.screen, FilterPrompt))
        table = app.screen.query_one(TenantTable)
        await until(pilot, lambda: [k.value for k in table.rows] == ["counter"])
        lines = app.screen.query_one(LogPanel).visible_lines
        assert lines and all("[counter]" in line for line in lines)
        assert len(app.screen.query_one(LogPanel).lines) == len(lines)

        await pilot.press("slash")
        await until(pilot, lambda: isinstance(app.screen, FilterPrompt))
        app.screen.query_one("Input").value = ""
        await pilot.press("enter")
        await until(pilot, lambda: len(table.rows) == 3)
        assert "[hello]" in log_text(app)

    console(scenario)


def test_l_runs_a_load_test_with_vanilla_comparison_and_exports(console, shots, tmp_path):
    async def scenario(app, pilot):
        await select(app, pilot, "hello")
        await pilot.press("l")
        await until(pilot, lambda: isinstance(app.screen, LoadTestForm))
        form = app.screen
        form.query_one("#duration").value = "3"
        form.query_one("#connections").value = "4"
        form.query_one("#compare").value = True
        await pilot.click("#start")
        await until(pilot, lambda: isinstance(app.screen, LoadTestScreen))
        screen = app.screen
        assert screen.specs[0].tenant == "hello" and screen.specs[1].vanilla
        # The UI keeps refreshing while the generator runs.
        await until(pilot, lambda: screen.current is not None)
        ticks = app.snapshot.at
        # Polled, not asserted once: on a loaded machine the run may end first.
        await until(pilot, lambda: max(screen._history) > 0 and app.snapshot.at > ticks + 0.4
                    and "requests" in plain(screen.query_one("#lt-live")))
        await until(pilot, lambda: not screen.running, timeout=30)
        assert len(app.load_runs) == 2
        results = screen.query_one("#lt-results")
        assert results.row_count == 2
        rps = float(str(results.get_cell_at((0, 8))).replace(",", ""))
        assert rps > 0
        assert results.get_cell_at((1, 2)) == "vanilla"
        assert "sandboxed / vanilla" in plain(screen.query_one("#lt-ratio"))
        # The done line is the tenant's run, though vanilla ran last.
        sandboxed = app.load_runs[0][0]
        assert plain(screen.query_one("#lt-live")).startswith(
            f"done: sandboxed hello {rate(sandboxed.rps)} req/s")
        # The log reads in the table's units, not "p99 3178.5 us".
        await until(pilot, lambda: "load test: sandboxed hello" in log_text(app))
        line = next(l for l in log_text(app).splitlines() if "load test: sandboxed hello" in l)
        assert f"p99 {us(sandboxed.report['latency']['p99_us'])}" in " ".join(line.split())
        assert not re.search(r"\d us\b", line)
        assert screen.query_one("ProgressBar").percentage == 1.0
        await pilot.pause()  # let what the test saw be drawn
        app.save_screenshot("load-test.svg", str(shots))

        await pilot.press("e")
        await until(pilot, lambda: isinstance(app.screen, ExportPrompt))
        target = tmp_path / "runs.json"
        app.screen.query_one("Input").value = str(target)
        await pilot.press("enter")
        await until(pilot, target.exists)
        document = json.loads(target.read_text())
        assert [run["spec"]["vanilla"] for run in document["runs"]] == [False, True]
        assert document["runs"][0]["report"]["rps"] > 0
        assert document["comparisons"][0]["ratio"] > 0
        await until(pilot, lambda: f"exported 2 load test run(s) to {target}" in log_text(app))
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, LoadTestScreen))

    console(scenario)


def test_load_test_stops_early_with_s(console):
    async def scenario(app, pilot):
        await select(app, pilot, "counter")
        await pilot.press("l")
        await until(pilot, lambda: isinstance(app.screen, LoadTestForm))
        app.screen.query_one("#duration").value = "30"
        app.screen.query_one("#rate").value = "500"
        await pilot.click("#start")
        await until(pilot, lambda: isinstance(app.screen, LoadTestScreen)
                    and app.screen.current is not None)
        screen = app.screen
        await pilot.pause(0.5)
        started = time.monotonic()
        await pilot.press("s")
        await until(pilot, lambda: not screen.running, timeout=10)
        assert time.monotonic() - started < 10
        assert app.load_runs and app.load_runs[-1][0].report["requests"] > 0

    console(scenario)


def test_command_palette_offers_the_actions(console):
    async def scenario(app, pilot):
        listed = [c.title for c in app.get_system_commands(app.screen)]
        assert listed.count("Keys") == 1 and listed.count("Quit") == 1  # ours, not Textual's too
        titles = set(listed)
        assert {"Reload tenant", "Reload all tenants", "Load test", "Tenant detail", "Filter",
                "Export load test runs", "Keys", "Quit"} <= titles
        await pilot.press("ctrl+p")
        await pilot.pause(0.3)
        await pilot.press(*"Reload all tenants")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await until(pilot, lambda: app.engine.tenants["hello"].version == 2
                    and app.engine.tenants["counter"].version == 2)

    console(scenario)


def test_q_stops_watcher_and_engine(console):
    state = {}

    async def scenario(app, pilot):
        state["port"] = app.engine.port
        state["watcher"] = app.watcher
        await pilot.press("q")
        await until(pilot, lambda: not app.is_running, timeout=30)

    app = console(scenario)
    assert app.return_code == 0
    assert not app.engine._started
    assert not state["watcher"]._thread.is_alive()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{state['port']}/", timeout=2)


def test_tenant_text_in_the_log_and_detail_is_escaped_and_prefixed(tmp_path, cache_dir):
    """A tenant printing escape sequences, CRs and fake engine lines, and one
    whose build error quotes them: the log and the detail screen show them
    escaped, and each of the tenant's lines carries its own name."""
    from test_safe_text import EVIL_CPP, HOSTILE, HOSTILE_BYTES, UNSAFE, c_string

    root = tmp_path / "tenants"
    (root / "evil").mkdir(parents=True)
    (root / "evil" / "app.cpp").write_text(EVIL_CPP % c_string(HOSTILE_BYTES))
    (root / "quoted").mkdir()
    (root / "quoted" / "app.cpp").write_bytes(
        b'#error \x1b[2K\x08mtd: [evil] loaded \x1b]0;t\x07\nint main() {}\n')
    app = ConsoleApp(EngineConfig(port=0, admin_port=0, threads=2, tenants_dir=root,
                                  cache_dir=cache_dir, translate=False), watch=False)

    async def main():
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: app.started, timeout=120)
            panel = app.screen_stack[0].query_one(LogPanel)
            await until(pilot, lambda: log_text(app).count("second line") >= len(HOSTILE))
            await until(pilot, lambda: "quoted" in log_text(app))
            # Raw records straight into the panel, as if a path forgot to escape.
            from test_safe_text import RAW_RECORDS
            panel.add(RAW_RECORDS)
            await until(pilot, lambda: "bad\\x1b[2J\\rname" in log_text(app))
            shown = [strip.text for strip in panel.lines] + log_text(app).splitlines()
            assert not [line for line in shown if UNSAFE.search(line)]
            for line in log_text(app).splitlines():
                if "second line" in line or "pwned" in line or "mtd: [hello]" in line:
                    assert re.match(r"\d\d:\d\d:\d\d \[evil\] ", line), line
            await select(app, pilot, "quoted")
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, TenantDetailScreen))
            await until(pilot, lambda: "last error:" in plain(app.screen.query_one("#detail-error")))
            error = plain(app.screen.query_one("#detail-error"))
            assert not UNSAFE.search(error)
            assert "\\x1b[2K\\bmtd: [evil] loaded \\x1b]0;t\\x07" in error
            assert "1 │ #error \\x1b[2K" in error  # the source line it names, escaped too
            await pilot.press("escape")
            await pilot.press("q")
            await until(pilot, lambda: not app.is_running, timeout=30)

    try:
        asyncio.run(asyncio.wait_for(main(), 120))
    finally:
        app.stop_engine()


def test_ten_load_tests_back_to_back_from_the_load_test_screen(console):
    """Fault 1 of issue 18: a second test started from the load test screen
    (the form on top of it) raised DuplicateIds and took the process, and
    every tenant's traffic, down with it."""
    served, failed = [], []
    stop = threading.Event()

    def keep_asking(port: int) -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as c:
            while not stop.is_set():
                try:
                    served.append(c.get("/").status_code)
                except httpx.HTTPError as e:
                    failed.append(repr(e))
                stop.wait(0.05)

    async def scenario(app, pilot):
        asker = threading.Thread(target=keep_asking, args=(app.engine.port,), daemon=True)
        asker.start()
        try:
            await select(app, pilot, "hello")
            for run in range(1, 11):
                await pilot.press("l")
                await until(pilot, lambda: isinstance(app.screen, LoadTestForm))
                app.screen.query_one("#duration").value = "0.3"
                app.screen.query_one("#connections").value = "2"
                await pilot.click("#start")
                await until(pilot, lambda: isinstance(app.screen, LoadTestScreen)
                            and len(app.load_runs) == run and not app.screen.running)
                # One load test screen at a time, whatever was on the stack.
                assert sum(isinstance(s, LoadTestScreen) for s in app.screen_stack) == 1
                assert app.screen.query_one("#lt-results").row_count == run
            count = len(served)
            await until(pilot, lambda: len(served) > count + 3)
        finally:
            stop.set()
            asker.join(timeout=10)
        assert app.is_running
        assert not failed and served and set(served) == {200}

    console(scenario, timeout=180)


def test_a_failing_screen_is_closed_and_reported_and_the_engine_keeps_serving(console, monkeypatch):
    def broken_show(self, snapshot):
        raise RuntimeError("the detail screen broke")

    monkeypatch.setattr(TenantDetailScreen, "show", broken_show)

    async def scenario(app, pilot):
        await select(app, pilot, "hello")
        await pilot.press("enter")
        await until(pilot, lambda: "console: TenantDetailScreen failed: RuntimeError: the detail "
                    "screen broke" in log_text(app))
        await until(pilot, lambda: isinstance(app.screen, DashboardScreen))
        assert app.is_running and app.ui_error is None
        assert "the detail screen broke" in app.errors_log.read_text()
        assert httpx.get(f"http://127.0.0.1:{app.engine.port}/", timeout=5).status_code == 200
        await pilot.press("question_mark")  # the console still answers keys
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        await pilot.press("escape")

    console(scenario)


CRASHING_CONSOLE = """
import sys
from pathlib import Path
from mtd.engine import EngineConfig
from mtd.tui.app import ConsoleApp, run_console

class CrashingConsole(ConsoleApp):
    def poll_engine(self):  # a timer of the app itself: this ends the UI
        super().poll_engine()
        if self.started:
            raise RuntimeError("the UI broke")

config = EngineConfig(port=0, admin_port=0, threads=1, tenants_dir=Path(sys.argv[1]),
                      cache_dir=Path(sys.argv[2]), translate=False)
sys.exit(run_console(config, watch=False, app=CrashingConsole(config, watch=False), headless=True))
"""


def test_when_the_ui_itself_fails_the_engine_keeps_serving_headless(tenants_dir, cache_dir, tmp_path):
    script = tmp_path / "crashing_console.py"
    script.write_text(CRASHING_CONSOLE)
    proc = subprocess.Popen([sys.executable, str(script), str(tenants_dir), str(cache_dir)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        seen = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            seen.append(line)
            match = re.search(r"The engine keeps serving on http://127\.0\.0\.1:(\d+)/", line)
            if match:
                break
        assert match, "".join(seen)
        assert "the console failed (RuntimeError: the UI broke" in line
        port = int(match.group(1))
        assert httpx.get(f"http://127.0.0.1:{port}/", timeout=5).status_code == 200
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0
        assert out.rstrip().endswith("mtd: stopped")
    finally:
        if proc.poll() is None:
            proc.kill()


def test_load_test_form_remembers_each_tenants_values_and_shows_compare_off(console):
    async def scenario(app, pilot):
        await select(app, pilot, "hello")
        await pilot.press("l")
        await until(pilot, lambda: isinstance(app.screen, LoadTestForm))
        form = app.screen
        compare = form.query_one("#compare")
        assert not compare.value and compare.render().plain.startswith("▐ ▌")  # no X when off
        compare.value = True
        await until(pilot, lambda: compare.render().plain.startswith("▐X▌"))
        compare.value = False
        form.query_one("#path").value = "/remembered"
        form.query_one("#duration").value = "0.3"
        form.query_one("#connections").value = "3"
        await pilot.click("#start")
        await until(pilot, lambda: isinstance(app.screen, LoadTestScreen) and not app.screen.running)
        assert app.load_runs[-1][0].spec.path == "/remembered"
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, LoadTestScreen))
        await pilot.press("l")
        await until(pilot, lambda: isinstance(app.screen, LoadTestForm))
        form = app.screen
        assert form.query_one("#tenant").value == "hello"
        assert (form.query_one("#path").value, form.query_one("#duration").value,
                form.query_one("#connections").value) == ("/remembered", "0.3", "3")
        form.query_one("#tenant").value = "counter"  # another tenant: not hello's values
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, LoadTestForm))
        kept = json.loads((app.state_dir / "loadtest-form.json").read_text())
        assert kept["hello"]["path"] == "/remembered"

    console(scenario)


def test_one_request_reads_as_one_request_per_second_not_four():
    """The console polls four times a second; a smoke test's single request
    read as "peak 4.0 req/s". Rates are taken over at least a second."""
    from mtd.tui.headless import RateTracker

    def entry(requests):
        return [{"name": "hello", "requests": requests, "errors": {"fault": 0}}]

    rates = RateTracker(error_rates=True, window=1.0)
    seen = [rates.update(entry(0), 0.0)[0]["rps"]]
    seen += [rates.update(entry(1), t / 4)[0]["rps"] for t in range(1, 12)]
    assert max(seen) == 1.0 and seen[-1] == 0.0
    steady = RateTracker(window=1.0)
    for tick in range(12):  # 100 req/s, steadily
        rps = steady.update(entry(25 * tick), tick / 4)[0]["rps"]
    assert rps == 100.0


def test_tier_column_says_which_tier_serves_and_how_much_ran_translated():
    from types import SimpleNamespace
    from mtd.tui.widgets.tenant_table import tier_text

    def status(tier, version="v1"):
        return SimpleNamespace(tier=tier, version=version)

    assert tier_text(None, {}).plain == "-"
    assert tier_text(status("translated", version=""), {}).plain == "-"
    assert tier_text(status("interpreted"), {}).plain == "interpreted"
    assert tier_text(status("optimising"), {}).plain == "optimising"
    assert tier_text(status("failed"), {}).plain == "failed"
    assert tier_text(status("translated"), {}).plain == "translated"
    cost = {"instructions_total": 400, "translated_instructions": 300}
    assert tier_text(status("translated"), cost).plain == "translated 75%"


def rendered(log) -> str:
    """What a RichLog shows, as plain text."""
    return "\n".join("".join(segment.text for segment in strip) for strip in log.lines)


def test_o_shows_a_tenants_output_builds_and_errors_with_its_text_made_safe(console, shots):
    async def scenario(app, pilot):
        engine = app.engine
        await until(pilot, lambda: "broken: app.py:2:" in log_text(app))
        # A line as the tenant's own output: escape sequences and markup.
        with engine._lock:
            engine._pending.extend(engine.logs.feed("broken", "\x1b[2Jcleared [b]not bold[/b]\x07\n"))
        await select(app, pilot, "broken")
        await pilot.press("o")
        await until(pilot, lambda: isinstance(app.screen, TenantLogScreen))
        screen = app.screen
        records = screen.query_one("#tlog-records")
        await until(pilot, lambda: "cleared" in rendered(records))
        shown = rendered(records)
        assert "\\x1b[2Jcleared [b]not bold[/b]\\x07" in shown and "\x1b" not in shown
        assert "build started" in shown and "error: broken: app.py:2:" in shown
        assert "last error: broken: app.py:2: syntax error" in plain(screen.query_one("#tlog-summary"))
        assert "no failed build kept" in plain(screen.query_one("#tlog-build")) \
            or "build.log" in plain(screen.query_one("#tlog-build")) \
            or ".log" in plain(screen.query_one("#tlog-build"))
        await pilot.pause()  # let what the test saw be drawn
        app.save_screenshot("tenant-log.svg", str(shots))
        # Only this tenant's records.
        assert "Hello from Python" not in shown
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, DashboardScreen))

    console(scenario)


def test_t_sends_a_request_with_the_tenants_host_and_shows_the_answer(console, shots):
    async def scenario(app, pilot):
        await select(app, pilot, "hello")
        await pilot.press("t")
        await until(pilot, lambda: isinstance(app.screen, RequestScreen))
        screen = app.screen
        assert screen.query_one("#req-host").value == "hello.localhost"
        await pilot.press("enter")  # the path field has the focus
        await until(pilot, lambda: screen.answer is not None)
        answer = plain(screen.query_one("#req-answer"))
        assert answer.startswith("200 OK  in ") and "content-type: text/plain" in answer
        assert "long string if I had the" in answer
        assert screen.answer.body == SEED_PAGE
        await pilot.pause()  # let what the test saw be drawn
        app.save_screenshot("request.svg", str(shots))

        screen.query_one("#req-host").value = "counter.localhost"
        screen.query_one("#req-method").value = "post"
        screen.query_one("#req-body").value = "ignored"
        screen.answer = None
        await pilot.click("#req-send")
        await until(pilot, lambda: screen.answer is not None)
        assert screen.answer.status == 200 and screen.answer.body == b"1 1\n"
        assert plain(screen.query_one("#req-answer")).startswith("200 OK")
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, DashboardScreen))

    console(scenario)


def test_c_shows_each_tenants_cost_per_request(console, shots):
    async def scenario(app, pilot):
        with httpx.Client(base_url=f"http://127.0.0.1:{app.engine.port}", timeout=5) as c:
            for _ in range(5):
                assert c.get("/", headers={"Host": "counter.localhost"}).content == b"1 1\n"
        table = app.screen.query_one(TenantTable)
        await pilot.press("c")
        await until(pilot, lambda: table.view == "cost")
        labels = [str(c.label) for c in table.columns.values()]
        assert labels[:3] == ["tenant", "instr p50", "instr p99"]
        assert {"pages/req", "peak mem", "in", "out", "budget", "memory", "fault", "bad resp",
                "overload"} <= set(labels)
        cost = next(s for s in app.engine.stats() if s["name"] == "counter")["cost"]
        await until(pilot, lambda: table.get_cell("counter", "instr_p50").plain
                    == f"{cost['instructions']['p50']:,}")
        assert cost["instructions"]["p50"] > 0
        assert table.get_cell("counter", "fault").plain == "0"
        assert "cost per request" in table.border_title
        await pilot.pause()  # let what the test saw be drawn
        app.save_screenshot("cost.svg", str(shots))
        await pilot.press("c")
        await until(pilot, lambda: table.view == "traffic")
        assert table.get_cell("counter", "state").plain == "serving"
        assert app.screen.query_one(SystemPanel).display

    console(scenario)


def test_every_key_and_screen_once_with_the_engine_serving_throughout(console, tmp_path):
    """Each binding of every screen, pressed once, with a client asking the
    engine all along: the console never takes the engine down."""
    served, failed = [], []
    stop = threading.Event()

    def keep_asking(port: int) -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as c:
            while not stop.is_set():
                try:
                    served.append(c.get("/").status_code)
                except httpx.HTTPError as e:
                    failed.append(repr(e))
                stop.wait(0.05)

    async def on(pilot, app, kind):
        await until(pilot, lambda: isinstance(app.screen, kind))
        return app.screen

    async def scenario(app, pilot):
        asker = threading.Thread(target=keep_asking, args=(app.engine.port,), daemon=True)
        asker.start()
        try:
            await select(app, pilot, "hello")
            # Dashboard: r, R, c (twice), /, ?, ctrl+p.
            await pilot.press("r")
            await until(pilot, lambda: app.engine.tenants["hello"].version == 2)
            await pilot.press("R")
            await until(pilot, lambda: app.engine.tenants["counter"].version == 2)
            await pilot.press("c")
            await pilot.press("c")
            await pilot.press("slash")
            await on(pilot, app, FilterPrompt)
            await pilot.press("escape")
            await on(pilot, app, DashboardScreen)
            await pilot.press("question_mark")
            await on(pilot, app, HelpScreen)
            await pilot.press("question_mark")
            await on(pilot, app, DashboardScreen)
            await pilot.press("ctrl+p")
            await until(pilot, lambda: app.screen is not app.screen_stack[0])
            await pilot.press("escape")
            await on(pilot, app, DashboardScreen)
            # enter: detail; there r, t (request: ctrl+s, escape), escape.
            await pilot.press("enter")
            detail = await on(pilot, app, TenantDetailScreen)
            await pilot.press("r")
            await until(pilot, lambda: app.engine.tenants["hello"].version == 4)
            await pilot.press("t")
            request = await on(pilot, app, RequestScreen)
            await pilot.press("ctrl+s")
            await until(pilot, lambda: request.answer is not None and request.answer.status == 200)
            await pilot.press("escape")
            assert await on(pilot, app, TenantDetailScreen) is detail
            await pilot.press("escape")
            await on(pilot, app, DashboardScreen)
            # o: the tenant's log; there r, t, escape.
            await pilot.press("o")
            await on(pilot, app, TenantLogScreen)
            await pilot.press("r")
            await until(pilot, lambda: app.engine.tenants["hello"].version == 5)
            await pilot.press("t")
            await on(pilot, app, RequestScreen)
            await pilot.press("escape")
            await on(pilot, app, TenantLogScreen)
            await pilot.press("escape")
            await on(pilot, app, DashboardScreen)
            # t from the dashboard.
            await pilot.press("t")
            await on(pilot, app, RequestScreen)
            await pilot.press("escape")
            await on(pilot, app, DashboardScreen)
            # l: the form (escape), again (start); on the load test screen s, e, l.
            await pilot.press("l")
            await on(pilot, app, LoadTestForm)
            await pilot.press("escape")
            await on(pilot, app, DashboardScreen)
            await pilot.press("l")
            form = await on(pilot, app, LoadTestForm)
            form.query_one("#duration").value = "20"
            form.query_one("#rate").value = "200"
            await pilot.click("#start")
            screen = await on(pilot, app, LoadTestScreen)
            await until(pilot, lambda: screen.current is not None)
            await pilot.press("s")
            await until(pilot, lambda: not screen.running, timeout=10)
            await pilot.press("e")
            export = await on(pilot, app, ExportPrompt)
            export.query_one("Input").value = str(tmp_path / "runs.json")
            await pilot.press("enter")
            await until(pilot, (tmp_path / "runs.json").exists)
            await pilot.press("l")
            form = await on(pilot, app, LoadTestForm)
            form.query_one("#duration").value = "0.3"
            form.query_one("#rate").value = "0"
            await pilot.click("#start")
            await until(pilot, lambda: isinstance(app.screen, LoadTestScreen) and len(app.load_runs) == 2
                        and not app.screen.running)
            await pilot.press("escape")
            await on(pilot, app, DashboardScreen)
            count = len(served)
            await until(pilot, lambda: len(served) > count + 3)
        finally:
            stop.set()
            asker.join(timeout=10)
        assert app.is_running and app.ui_error is None
        assert not failed and set(served) == {200}
        assert httpx.get(f"http://127.0.0.1:{app.engine.port}/", timeout=5).status_code == 200

    console(scenario, timeout=180)
