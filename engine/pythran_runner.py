"""Runs `pythran -e app.py -o app.cpp` for a build, in the build sandbox,
without making the build wait for Pythran's imports.

Each translation gets its own worker (pythran_worker.py) in its own sandbox
whose only writable folder is that worker's scratch: no two tenants'
translations ever share a process or a folder. A spare worker is started
ahead (after each translation, and on first use), so it has imported
Pythran by the time the next save arrives. The host copies the source into
the spare's scratch, sends it the job, and takes app.cpp back out refusing
anything but a regular file.

Workers are started from one long-lived thread: bwrap --die-with-parent
kills a sandbox when the *thread* that started it exits, and a spare must
outlive the build thread that asked for it. Thread-safe."""

from __future__ import annotations

import atexit
import json
import os
import select
import stat
import shutil
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from . import build_sandbox

WORKER = Path(__file__).resolve().parent / "pythran_worker.py"
MAX_CPP_BYTES = 64 << 20
OUTPUT = "pythran.out"  # pythran_worker.OUTPUT, in the worker's scratch


@dataclass
class PythranResult:
    code: int | None  # exit status; None: it ran out of time and was killed
    output: bytes     # what it printed (at most keep_bytes of it)
    output_size: int  # how much it printed in all
    cpp: bytes | None  # app.cpp, if it wrote one
    died: int | None = None  # the worker's exit status if it ended without answering


class _NotStarted(Exception):
    """The worker was gone before it got its job."""


class _Worker:
    def __init__(self, root: Path, timeout_s: float):
        self.scratch = Path(tempfile.mkdtemp(prefix="job-", dir=root))
        try:
            self.process = build_sandbox.popen(
                [build_sandbox.python_executable(), "-I", str(WORKER)], self.scratch,
                cpu_seconds=timeout_s, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL)
        except BaseException:
            shutil.rmtree(self.scratch, ignore_errors=True)
            raise

    def alive(self) -> bool:
        return self.process.poll() is None

    def close(self) -> None:
        if self.process.poll() is None:
            build_sandbox.kill_tree(self.process)
        for pipe in (self.process.stdin, self.process.stdout):
            try:
                pipe.close()
            except OSError:
                pass
        shutil.rmtree(self.scratch, ignore_errors=True)


class PythranPool:
    """Starts workers (timeout_s: their CPU time limit) and keeps one spare."""

    def __init__(self, timeout_s: float = 180):
        self.timeout_s = timeout_s
        self._root: Path | None = None
        self._spare: _Worker | None = None
        self._lock = threading.Lock()
        self._starter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mtd-pythran")
        self._closed = False

    def _start(self) -> _Worker:
        """A new worker, started from the long-lived thread."""
        with self._lock:
            if self._root is None:
                self._root = Path(tempfile.mkdtemp(prefix="mtd-pythran-"))
            root = self._root
        return self._starter.submit(_Worker, root, self.timeout_s).result()

    def _take(self) -> _Worker:
        with self._lock:
            worker, self._spare = self._spare, None
        if worker is not None and worker.alive():
            return worker
        if worker is not None:
            worker.close()
        return self._start()

    def _replenish(self) -> None:
        """Starts the next translation's worker, unless one waits already."""
        with self._lock:
            if self._spare is not None or self._closed:
                return
        try:
            worker = self._start()
        except Exception:
            return  # reported when a build next needs one
        with self._lock:
            if self._spare is None and not self._closed:
                self._spare, worker = worker, None
        if worker is not None:
            worker.close()

    def run(self, source: bytes, argv: list[str], keep_bytes: int,
            timeout_s: float) -> PythranResult:
        """Translates source (written as app.py) with Pythran's command-line
        arguments argv. Raises build_sandbox.SandboxUnavailable, or OSError
        when the worker misbehaves."""
        try:
            worker = self._take()
            try:
                return self._run_on(worker, source, argv, keep_bytes, timeout_s)
            except _NotStarted:
                worker.close()
                worker = self._start()  # once more, with a worker just started
                return self._run_on(worker, source, argv, keep_bytes, timeout_s)
            finally:
                worker.close()
        finally:
            threading.Thread(target=self._replenish, name="mtd-pythran-spare",
                             daemon=True).start()

    def _run_on(self, worker: _Worker, source: bytes, argv: list[str], keep_bytes: int,
                timeout_s: float) -> PythranResult:
        # Nothing has run in this scratch yet: app.py is ours to create.
        fd = os.open(worker.scratch / "app.py", os.O_WRONLY | os.O_CREAT | os.O_EXCL
                     | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        with open(fd, "wb") as out:
            out.write(source)
        try:
            worker.process.stdin.write((json.dumps({"argv": argv}) + "\n").encode())
            worker.process.stdin.close()
        except OSError:  # it died before its job (e.g. its thread was gone)
            raise _NotStarted() from None
        reply, timed_out = _read_reply(worker.process, timeout_s)
        output, size = _read_output(worker.scratch / OUTPUT, keep_bytes)
        if timed_out:
            code = None
        elif reply is None:  # it exited without answering (e.g. stopped at a limit)
            died = worker.process.wait()
            output += f"\n[the Pythran worker exited with status {died}]\n".encode()
            return PythranResult(died or 1, output, size, None, died)
        else:
            try:
                code = int(json.loads(reply)["code"])
            except (ValueError, KeyError, TypeError):
                raise OSError(f"the Pythran worker answered {reply[:200]!r}") from None
        cpp = build_sandbox.read_output(worker.scratch / "app.cpp", MAX_CPP_BYTES)
        return PythranResult(code, output, size, cpp)


    def close(self) -> None:
        with self._lock:
            self._closed = True
            spare, self._spare = self._spare, None
            root = self._root
        if spare is not None:
            spare.close()
        self._starter.shutdown(wait=False)
        if root is not None:
            shutil.rmtree(root, ignore_errors=True)


def _read_reply(process: subprocess.Popen, timeout_s: float) -> tuple[bytes | None, bool]:
    """(the worker's answer line or None if it exited without one, whether
    it ran out of time, in which case it is killed)."""
    fd = process.stdout.fileno()
    deadline = time.monotonic() + timeout_s
    data = b""
    while b"\n" not in data:
        left = deadline - time.monotonic()
        if left <= 0:
            build_sandbox.kill_tree(process)
            return None, True
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            continue
        chunk = os.read(fd, 4096)
        if not chunk:
            return None, False
        data += chunk
    return data.split(b"\n", 1)[0], False


def _read_output(path: Path, keep_bytes: int) -> tuple[bytes, int]:
    """The first keep_bytes of what Pythran printed, and how much it printed."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return b"", 0
    with open(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode):
            return b"", 0
        return f.read(keep_bytes), info.st_size


_pool: PythranPool | None = None
_pool_lock = threading.Lock()


def pool(timeout_s: float) -> PythranPool:
    """The process's pool (one spare worker at most)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = PythranPool(timeout_s)
            atexit.register(_pool.close)
        return _pool


def run_pythran(source: bytes, argv: list[str], keep_bytes: int,
                timeout_s: float) -> PythranResult:
    """Pythran's command line (e.g. -e app.py -o app.cpp) on source, saved as
    app.py, in a sandbox of its own."""
    return pool(timeout_s).run(source, argv, keep_bytes, timeout_s)
