"""Runs `pythran -e app.py -o app.cpp` without paying Pythran's ~1 s import on
every build: a multiprocessing fork server imports Pythran once, and each
translation runs in a fresh child forked from it, exactly as the command
line would (same arguments, same messages, its own process)."""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
from pathlib import Path

_context = None
_context_lock = threading.Lock()


def _fork_server():
    global _context
    with _context_lock:
        if _context is None:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(["pythran.run"])
            _context = context
        return _context


def _translate(cwd: str, argv: list[str], log_path: str) -> None:
    """Child process: runs Pythran's command line with output to log_path."""
    os.chdir(cwd)
    with open(log_path, "ab") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
    import pythran.run
    sys.argv = ["pythran", *argv]
    try:
        pythran.run.run()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()


def run_pythran(cwd: Path, argv: list[str], log_path: Path, timeout_s: float) -> int | None:
    """Pythran's exit status, or None when it ran out of time (and was killed)."""
    process = _fork_server().Process(target=_translate, args=(str(cwd), argv, str(log_path)))
    process.start()
    process.join(timeout_s)
    if process.exitcode is None:
        process.kill()
        process.join()
        return None
    return process.exitcode
