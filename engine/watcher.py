"""Watches the tenants folder and hot-reloads what changed: saving app.py,
app.cpp or tenant.toml rebuilds and swaps that tenant only, a new folder adds
a tenant, a removed one unloads it. Reloads of different tenants run in
parallel; changes to a tenant that is being rebuilt are coalesced into one
more rebuild after it."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import watchfiles

from .engine import Engine, LoadFailed
from .tenants import SOURCE_NAMES

WATCHED_NAMES = frozenset(SOURCE_NAMES) | {"tenant.toml"}


class TenantWatcher:
    def __init__(self, engine: Engine, jobs: int = 2):
        self.engine = engine
        self.root = Path(engine.config.tenants_dir).resolve()
        self._pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="mtd-reload")
        self._lock = threading.Lock()
        self._busy: set[str] = set()     # tenants being reloaded
        self._again: set[str] = set()    # changed again while being reloaded
        self._seen: dict[str, float] = {}  # when the change being synced was seen (monotonic)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._watch, name="mtd-watch", daemon=True)
        self._thread.start()
        self._ready.wait(timeout=10)

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)
        self._pool.shutdown(wait=True)

    def _watch(self) -> None:
        """Watches until stopped. If watching fails (the folder went away,
        out of inotify watches), says so and tries again every second."""
        failing = None
        while not self._stop.is_set():
            try:
                self._watch_once()
                return
            except Exception as e:
                self._ready.set()
                if repr(e) != failing:
                    failing = repr(e)
                    self.engine.note("", f"error: file watcher: {type(e).__name__}: {e}; "
                                         f"retrying every second", event="error")
                self._stop.wait(1.0)

    def _watch_once(self) -> None:
        def relevant(change: watchfiles.Change, path: str) -> bool:
            p = Path(path)
            if p.parent == self.root:  # a tenant folder itself (added or removed)
                return not p.name.startswith((".", "_"))
            return p.name in WATCHED_NAMES

        watcher = watchfiles.watch(self.root, watch_filter=relevant, stop_event=self._stop,
                                   yield_on_timeout=True, rust_timeout=200, step=50)
        # The first timeout means the watch is established; changes from
        # then on are seen (start() waits for it so no save is missed).
        for changes in watcher:
            self._ready.set()
            seen = time.monotonic()
            names = {self._tenant_of(Path(path)) for _, path in changes}
            for name in sorted(n for n in names if n):
                self.changed(name, seen)

    def _tenant_of(self, path: Path) -> str | None:
        try:
            parts = path.resolve().relative_to(self.root).parts
        except ValueError:
            return None
        return parts[0] if parts else None

    def changed(self, name: str, seen: float | None = None) -> None:
        """Schedules a sync of one tenant (also callable directly); `seen`:
        when the change was noticed (time.monotonic(), default now)."""
        with self._lock:
            self._seen[name] = time.monotonic() if seen is None else seen
            if name in self._busy:
                self._again.add(name)
                return
            self._busy.add(name)
        try:
            self._pool.submit(self._sync_until_settled, name)
        except RuntimeError:  # the pool is shut down: stopping
            with self._lock:
                self._busy.discard(name)

    def _sync_until_settled(self, name: str) -> None:
        try:
            while True:
                try:
                    self._sync(name)
                except Exception as e:  # never leave the tenant "busy" for good
                    self.engine.note(name, f"error: reload failed: {type(e).__name__}: {e}",
                                     event="error")
                with self._lock:
                    if name not in self._again:
                        return
                    self._again.discard(name)
        finally:
            with self._lock:
                self._busy.discard(name)
                self._again.discard(name)

    def _sync(self, name: str) -> None:
        with self._lock:
            seen = self._seen.pop(name, time.monotonic())
        folder = self.root / name
        has_source = folder.is_dir() and any((folder / s).is_file() for s in SOURCE_NAMES)
        if not has_source:
            if name in self.engine.tenants:
                self.engine.unload(name)
            return
        try:
            status = self.engine.reload(name)
        except LoadFailed:
            return  # reported in the log; the last good version keeps serving
        # From when the change was seen, not the files' mtimes: a folder moved
        # back in keeps its old mtimes (that read 23 s).
        status.save_to_serving_s = max(0.0, time.monotonic() - seen)
        self.engine.note(name, f"save to serving in {status.save_to_serving_s:.2f} s",
                         event="reload", seconds=round(status.save_to_serving_s, 3),
                         version=status.version)
