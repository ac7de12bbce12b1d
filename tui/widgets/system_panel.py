"""The process as the operating system sees it: CPU per core, memory,
threads and open connections (psutil), refreshed once a second (the
connections every few seconds: listing them reads every socket of the
process, the costliest thing an idle console did)."""

from __future__ import annotations

import os

import psutil
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from ..format import size

BAR = 20
CONNECTIONS_EVERY = 5  # samples between two counts of the connections


def bar(percent: float) -> Text:
    filled = int(round(percent / 100 * BAR))
    style = "green" if percent < 60 else "yellow" if percent < 85 else "red"
    return Text("█" * filled, style=style) + Text("░" * (BAR - filled), style="dim")


class SystemPanel(Static):
    """Host CPU per core and this process's RSS, threads and connections."""

    def on_mount(self) -> None:
        self.border_title = "system"
        self._process = psutil.Process(os.getpid())
        psutil.cpu_percent(percpu=True)  # the first call only primes the counters
        self._samples = 0
        self._connections = "-"
        self._drawn: str | None = None
        self.sample()
        self.set_interval(1.0, self.sample)

    def sample(self) -> None:
        table = Table.grid(padding=(0, 1))
        table.add_column(style="bold")
        table.add_column()
        table.add_column(justify="right")
        for i, percent in enumerate(psutil.cpu_percent(percpu=True)):
            table.add_row(f"cpu{i}", bar(percent), f"{percent:5.1f}%")
        try:
            with self._process.oneshot():
                rss = self._process.memory_info().rss
                threads = self._process.num_threads()
                cpu = self._process.cpu_percent()
            if self._samples % CONNECTIONS_EVERY == 0:
                connections = self._process.net_connections(kind="tcp")
                established = sum(1 for c in connections if c.status == psutil.CONN_ESTABLISHED)
                listening = sum(1 for c in connections if c.status == psutil.CONN_LISTEN)
                self._connections = f"{established} open, {listening} listening"
        except (psutil.Error, OSError):
            return
        self._samples += 1
        table.add_row("process", "", f"{cpu:5.1f}%")
        table.add_row("rss", size(rss), "")
        table.add_row("threads", str(threads), "")
        table.add_row("conns", self._connections, "")
        # Redrawn only when a figure moved.
        key = repr([c._cells for c in table.columns])
        if key != self._drawn:
            self._drawn = key
            self.update(table)
