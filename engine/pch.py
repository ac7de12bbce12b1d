"""The precompiled Pythran runtime header (guest/pythran_pch.hpp): built once
per toolchain into the build cache, then force-included by every Python
tenant's compile, which cuts a hello build's C++ step from ~2 s to ~1 s.

It only saves time: if it cannot be built, compiles go on without it, and
GCC itself ignores a stale one and parses the header instead. It is built in
the build sandbox like everything else, in a scratch folder of its own;
tenant builds get its folder read-only."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

from . import build_sandbox

HEADER_NAME = "pythran_pch.hpp"
_lock = threading.Lock()  # one build at a time within this process


def precompiled_header(cache_dir: Path, guest_dir: Path, compile_argv: list[str],
                       timeout_s: float) -> Path | None:
    """Path of the header to pass to `-include` (its .gch beside it), or None.

    compile_argv is the compiler and every flag a tenant compile uses; the
    header must be built with exactly those to be valid for it."""
    header = guest_dir / HEADER_NAME
    # Every guest header, not just this one: it includes pythran_literals.hpp
    # from guest_dir, and GCC would use a stale .gch without a word.
    h = hashlib.sha256("\0".join(compile_argv).encode())
    for guest_file in sorted(Path(guest_dir).iterdir()):
        if guest_file.is_file():
            h.update(guest_file.name.encode() + b"\0" + guest_file.read_bytes())
    key = h.hexdigest()[:24]
    target = Path(cache_dir) / "pch" / key
    if (target / f"{HEADER_NAME}.gch").is_file():
        return target / HEADER_NAME
    with _lock:
        if (target / f"{HEADER_NAME}.gch").is_file():
            return target / HEADER_NAME
        target.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix="pch-", dir=target.parent))
        scratch = work / "scratch"
        try:
            scratch.mkdir()
            shutil.copyfile(header, scratch / HEADER_NAME)
            argv = [*compile_argv, "-x", "c++-header", HEADER_NAME, "-o", f"{HEADER_NAME}.gch"]
            limits = build_sandbox.PCH_LIMITS
            with open(work / "pch.out", "wb") as out:
                code = build_sandbox.run(argv, scratch, out, timeout_s, limits=limits,
                                         compiler=compile_argv[0])
            gch = build_sandbox.read_output(scratch / f"{HEADER_NAME}.gch", limits.file_bytes)
            if code != 0 or gch is None:
                return None
            (work / f"{HEADER_NAME}.gch").write_bytes(gch)
            shutil.copyfile(header, work / HEADER_NAME)
            shutil.rmtree(scratch)
            (work / "pch.out").unlink()
            work.rename(target)  # atomic: another process may have won, which is fine
        except (OSError, subprocess.TimeoutExpired):
            return None
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return target / HEADER_NAME if (target / f"{HEADER_NAME}.gch").is_file() else None
