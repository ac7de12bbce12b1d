"""The second execution tier's compile step: C++ that mtd's translator wrote
(cpp/sandbox/translate/emitter.cpp) for the code a tenant's requests run,
compiled by the host's g++ into a shared object the server loads.

The source is ours, but its numbers come from the tenant's ELF, so it is
compiled in the build sandbox like any tenant build (build_sandbox.py), with
the same limits. Compiled objects are cached under
cache_dir/translations/<hash>.so: the hash covers the source (which names the
translator's ABI version), the compiler, its flags and the runtime headers,
and the host CPU (-march=native)."""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from . import build_sandbox

HOST_CXX = "/usr/bin/g++"
FLAGS = ["-std=c++20", "-O2", "-march=native", "-fPIC", "-shared", "-w",
         "-fvisibility=hidden", "-fno-semantic-interposition"]
TIMEOUT_S = 120
MAX_OBJECT_BYTES = 64 << 20


class TranslationError(Exception):
    """A translation that could not be compiled; the message says why."""


@dataclass
class Compiled:
    path: Path
    cached: bool
    seconds: float


def runtime_include() -> Path:
    """translate/runtime.hpp and the headers it includes, as installed."""
    from mtd import _core
    return Path(_core.__file__).resolve().parent / "translate_runtime" / "sandbox" / "translate"


def _cpu() -> str:
    """What -march=native compiles for: the first processor's model and flags."""
    try:
        with open("/proc/cpuinfo") as f:
            lines = [l for l in f.read().split("\n\n")[0].splitlines()
                     if l.startswith(("model name", "flags"))]
        return "\n".join(lines)
    except OSError:
        return platform.processor()


def cache_key(source: str) -> str:
    h = hashlib.sha256()
    runtime = runtime_include().parent
    parts = [source, HOST_CXX, " ".join(FLAGS), _cpu(),
             subprocess.run([HOST_CXX, "--version"], capture_output=True, text=True).stdout]
    parts += [p.read_text() for p in sorted(runtime.rglob("*.hpp"))]
    for part in parts:
        data = part.encode()
        h.update(len(data).to_bytes(8, "little") + data)
    return h.hexdigest()[:32]


def compile_translation(source: str, cache_dir: Path) -> Compiled:
    """The shared object for `source`, compiled in the build sandbox (or
    taken from the cache). Raises TranslationError."""
    started = time.monotonic()
    target = Path(cache_dir) / "translations" / f"{cache_key(source)}.so"
    # What is in this folder runs as host code in the server: only the
    # operator may write it (chmod fails on a folder someone else owns).
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(target.parent, 0o700)
    except OSError as e:
        raise TranslationError(f"the translation cache is not the operator's own: {e}") from None
    if target.is_file():
        return Compiled(target, True, time.monotonic() - started)
    scratch = Path(tempfile.mkdtemp(prefix="translate-", dir=target.parent))
    try:
        (scratch / "translation.cpp").write_text(source)
        include = runtime_include()
        argv = [HOST_CXX, *FLAGS, f"-I{include}", "translation.cpp", "-o", "translation.so"]
        log = scratch / "compile.out"
        with open(log, "wb") as out:
            code = build_sandbox.run(argv, scratch, out, TIMEOUT_S, inputs=[include.parent.parent],
                                     compiler=HOST_CXX)
        if code is None:
            raise TranslationError(f"the compiler took longer than {TIMEOUT_S} s and was stopped")
        if code != 0:
            detail = log.read_bytes()[:2000].decode("utf-8", errors="replace").strip().splitlines()
            raise TranslationError(f"the compiler failed ({code}): " + (detail[-1] if detail else "no output"))
        data = build_sandbox.read_output(scratch / "translation.so", MAX_OBJECT_BYTES)
        if data is None:
            raise TranslationError("the compiler wrote no shared object")
        staged = target.with_name(f"{target.name}.{os.getpid()}.tmp")
        staged.write_bytes(data)
        os.replace(staged, target)  # a racing compile of the same key writes the same bytes
    except OSError as e:
        raise TranslationError(str(e)) from None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return Compiled(target, False, time.monotonic() - started)
