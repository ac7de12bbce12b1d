"""The Pythran worker process (run as `python -m mtd.engine.pythran_worker`).

It imports Pythran once, then serves translation jobs read from stdin as
JSON lines: each job runs Pythran's command line in a child forked from
this already-initialised process (so jobs share no state and cost no
import), with its output in a log file and a time limit enforced here.
Replies on stdout: {"id": ..., "code": exit status, or null if it timed out}.
Single-threaded, so forking is safe."""

from __future__ import annotations

import json
import os
import select
import signal
import sys
import time


def run_job(job: dict) -> None:
    """In the forked child: Pythran's command line, then exit with its status."""
    code = 1
    try:
        os.chdir(job["cwd"])
        log = os.open(job["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(log, 1)
        os.dup2(log, 2)
        sys.argv = ["pythran", *job["argv"]]
        try:
            pythran_run.run()
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def reply(job_id, code) -> None:
    sys.stdout.write(json.dumps({"id": job_id, "code": code}) + "\n")
    sys.stdout.flush()


def serve() -> None:
    running: dict[int, tuple[object, float]] = {}  # pid -> (job id, deadline)
    stdin_open = True
    while stdin_open or running:
        ready, _, _ = select.select([sys.stdin] if stdin_open else [], [], [], 0.02)
        if ready:
            line = sys.stdin.readline()
            if not line:
                stdin_open = False  # our parent went away: finish what runs, then exit
            else:
                job = json.loads(line)
                pid = os.fork()
                if pid == 0:
                    run_job(job)
                running[pid] = (job["id"], time.monotonic() + job["timeout"])
        for pid, (job_id, deadline) in list(running.items()):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                del running[pid]
                reply(job_id, os.waitstatus_to_exitcode(status))
            elif time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                del running[pid]
                reply(job_id, None)


if __name__ == "__main__":
    import pythran.run as pythran_run  # the ~1 s this process exists to pay once

    serve()
