"""The Pythran worker: one translation, run inside the build sandbox
(`python -I pythran_worker.py`, started by pythran_runner.py before the job
exists, so Pythran's ~0.25 s of imports are paid while nobody waits).

It imports Pythran's translator, then reads one job from stdin, a JSON line
{"argv": [...]}, runs Pythran's command line with those arguments in its
current directory (its scratch folder, the only one it may write) with
stdout and stderr going to pythran.out there, and answers on stdout with
{"code": exit status}. Then it exits: a worker never serves a second job,
so nothing one tenant's translation leaves behind reaches another's.

Standard library and Pythran only: it runs from the engine folder with
`-I`, without the mtd package."""

from __future__ import annotations

import json
import os
import sys
import traceback

OUTPUT = "pythran.out"
MAX_JOB_BYTES = 1 << 16


def read_line(fd: int) -> bytes | None:
    """One line from fd, read unbuffered (no stdio buffer to hide a job in);
    None at end of file before a newline."""
    data = b""
    while b"\n" not in data:
        chunk = os.read(fd, 4096)
        if not chunk:
            return None
        data += chunk
        if len(data) > MAX_JOB_BYTES:
            return None
    return data.split(b"\n", 1)[0]


def run_job(job: dict, pythran_run) -> int:
    """Pythran's command line with fd 1 and 2 in OUTPUT; its exit status."""
    log = os.open(OUTPUT, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    sys.argv = ["pythran", *job["argv"]]
    try:
        pythran_run.run()
        return 0
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException:  # a Pythran crash is this job's error, reported in its output
        traceback.print_exc()
        return 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()


def main() -> int:
    replies = os.dup(1)  # fd 1 becomes the job's output
    import pythran.run as pythran_run
    import pythran.toolchain  # noqa: F401  what run() imports lazily: most of the cost
    line = read_line(0)
    if line is None:
        return 0  # the server stopped, or did not need this spare worker
    code = run_job(json.loads(line), pythran_run)
    os.write(replies, (json.dumps({"code": code}) + "\n").encode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
