"""CPU an idle console costs: starts `mtd-console` in a pseudo-terminal
(140x40) with the bundled tenants, waits until it serves, then samples the
process's CPU time (user + system, all threads) over --seconds with no
traffic and no key presses.

    .venv/bin/python tests/benchmarks/idle_console.py [--seconds 30] [--no-tui]

Prints "idle console: N.N% of one core over S s".
"""

from __future__ import annotations

import argparse
import fcntl
import os
import pty
import select
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def drain(fd: int) -> None:
    """Reads what the console drew so its writes never block."""
    while select.select([fd], [], [], 0)[0]:
        try:
            if not os.read(fd, 65536):
                return
        except OSError:
            return


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--no-tui", action="store_true", help="measure the headless mode instead")
    parser.add_argument("--cache-dir", default=None, help="build cache (default: a fresh temporary one)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="mtd-idle-"))
    shutil.copytree(ROOT / "tenants", work / "tenants")
    port, admin = free_port(), free_port()
    argv = [str(ROOT / ".venv" / "bin" / "mtd-console"), "--tenants", str(work / "tenants"),
            "--port", str(port), "--admin-port", str(admin),
            "--cache-dir", args.cache_dir or str(work / "cache")]
    if args.no_tui:
        argv.append("--no-tui")
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 140, 0, 0))
    env = dict(os.environ, TERM="xterm-256color", COLORTERM="truecolor")
    child = subprocess.Popen(argv, stdin=follower, stdout=follower, stderr=follower, env=env,
                             start_new_session=True)
    os.close(follower)
    try:
        deadline = time.monotonic() + 600
        while True:
            drain(leader)
            try:
                if httpx.get(f"http://127.0.0.1:{port}/", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if child.poll() is not None or time.monotonic() > deadline:
                print("the console did not start", file=sys.stderr)
                return 1
            time.sleep(0.2)
        settle = time.monotonic() + 3  # the first frames and the log of the builds
        while time.monotonic() < settle:
            drain(leader)
            time.sleep(0.05)
        process = psutil.Process(child.pid)
        before, started = process.cpu_times(), time.monotonic()
        end = started + args.seconds
        while time.monotonic() < end:
            drain(leader)
            time.sleep(0.05)
        after, elapsed = process.cpu_times(), time.monotonic() - started
        used = (after.user - before.user) + (after.system - before.system)
        print(f"idle {'headless' if args.no_tui else 'console'}: {100 * used / elapsed:.1f}% "
              f"of one core over {elapsed:.0f} s")
        return 0
    finally:
        child.terminate()
        try:
            child.wait(timeout=20)
        except subprocess.TimeoutExpired:
            child.kill()
        os.close(leader)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
