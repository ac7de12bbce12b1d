"""Runs `pythran -e app.py -o app.cpp` without paying Pythran's ~1 s import on
every build: jobs go to one long-lived worker process (pythran_worker.py)
that imported Pythran once and forks a fresh child per job, so each job
behaves exactly like the command line. Thread-safe; the worker is started
on first use and restarted if it dies."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import threading
from concurrent.futures import Future
from pathlib import Path


class _Worker:
    def __init__(self):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mtd.engine.pythran_worker"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, bufsize=1)
        self.pending: dict[int, Future] = {}
        self.lock = threading.Lock()
        threading.Thread(target=self._read_replies, name="mtd-pythran", daemon=True).start()

    def submit(self, job: dict) -> Future:
        future: Future = Future()
        with self.lock:
            self.pending[job["id"]] = future
            self.process.stdin.write(json.dumps(job) + "\n")
            self.process.stdin.flush()
        return future

    def _read_replies(self) -> None:
        for line in self.process.stdout:
            answer = json.loads(line)
            with self.lock:
                future = self.pending.pop(answer["id"], None)
            if future:
                future.set_result(answer["code"])
        with self.lock:  # the worker died: nothing pending will be answered
            for future in self.pending.values():
                future.set_exception(RuntimeError("the Pythran worker process exited"))
            self.pending.clear()

    def alive(self) -> bool:
        return self.process.poll() is None


_worker: _Worker | None = None
_worker_lock = threading.Lock()
_ids = itertools.count()


def run_pythran(cwd: Path, argv: list[str], log_path: Path, timeout_s: float) -> int | None:
    """Pythran's exit status, or None when it ran out of time (and was killed)."""
    global _worker
    with _worker_lock:
        if _worker is None or not _worker.alive():
            _worker = _Worker()
        worker = _worker
    job = {"id": next(_ids), "cwd": str(cwd), "argv": argv, "log": str(log_path),
           "timeout": timeout_s}
    try:
        # The worker enforces the time limit; the margin covers its start-up.
        return worker.submit(job).result(timeout=timeout_s + 60)
    except (OSError, RuntimeError):  # worker gone: one plain run instead
        with open(log_path, "ab") as log:
            try:
                return subprocess.run(["pythran", *argv], cwd=cwd, stdout=log,
                                      stderr=subprocess.STDOUT, timeout=timeout_s).returncode
            except subprocess.TimeoutExpired:
                return None
