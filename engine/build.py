"""The build pipeline: a tenant's app.py -> Pythran C++ -> riscv64 static ELF
(or app.cpp -> ELF directly), cached by the hash of everything that goes in.

Failures become a BuildError whose message is one readable line naming the
tenant, file and line; the compiler's full output stays in a log file.

Every tool runs in the build sandbox (build_sandbox.py): it sees the
toolchain read-only, a copy of the tenant's source in its own scratch
folder, and nothing else of the machine; what it writes is taken out of the
scratch by the host, regular files only."""

from __future__ import annotations

import ast
import hashlib
import os
import re
import shutil
import signal
import stat
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from . import build_sandbox
from .build_sandbox import SandboxUnavailable
from .literals import hoist_literals
from .pch import precompiled_header
from .pythran_runner import run_pythran
from .safe_text import one_line
from .tenants import TenantSpec

GUEST_DIR = Path(__file__).resolve().parent / "guest"
CXX = os.environ.get("MTD_RISCV_CXX", "riscv64-linux-gnu-g++")
CXX_FLAGS = ["-static", "-w"]
# Every tenant is built optimised. A new version can first be built quick
# (Builder.build(quick=True)) to serve sooner while the optimised build runs
# in the background (engine/tiers.py). Measured on the api tenant: its C++
# step takes 1.05 s at -O2 and 0.80 s at -O1, for 2-17 % more guest
# instructions per request (hello 40 -> 52, mandelbrot 494k -> 578k).
OPTIMISED_FLAGS = ["-O2"]
QUICK_FLAGS = ["-O1"]
PYTHON_STD = "-std=c++17"  # what Pythran's headers are written for
CPP_STD = "-std=c++20"
# The guest allocator (guest/mtd_malloc.c) replaces glibc's malloc in every
# tenant; C, compiled once per toolchain and source into the build cache.
# -fno-builtin: GCC would otherwise turn calloc's alloc + memset into a call
# to calloc, i.e. itself.
ALLOCATOR = GUEST_DIR / "mtd_malloc.c"
ALLOCATOR_FLAGS = ["-x", "c", "-std=gnu11", "-O2", "-fno-builtin", "-w", "-c"]
BUILD_TIMEOUT_S = 180  # a Pythran type explosion can take minutes otherwise
LOG_KEEP_BYTES = 1 << 20  # compilers can emit gigabytes of diagnostics
MAX_SOURCE_BYTES = 4 << 20  # app.py / app.cpp
# In the toolchain fingerprint, so builds made before a change to what the
# sandbox allows are not served from the cache.
SANDBOX_POLICY = "build sandbox 1"


class BuildError(Exception):
    def __init__(self, tenant: str, file: str, line: int | None, message: str,
                 log: Path | None = None):
        # Compiler messages quote the tenant's source: no control characters.
        message = one_line(message)
        self.tenant, self.file, self.line, self.message, self.log = tenant, file, line, message, log
        where = f"{file}:{line}" if line else file
        super().__init__(f"{tenant}: {where}: {message}")


@dataclass
class BuildResult:
    elf: Path
    cached: bool
    seconds: float
    optimised: bool = True  # False: a quick build (QUICK_FLAGS)
    source: bytes = b""  # what was built: an optimised build of a quick one compiles the same


@dataclass
class Handler:
    """What the shim needs to know about the tenant's Python entry points."""
    has_on_init: bool
    handler_args: int


def analyse_python(spec: TenantSpec, source: str) -> Handler:
    """Reads the entry points from the source, so the shim matches them."""
    try:
        tree = ast.parse(source, filename=str(spec.source))
    except SyntaxError as e:
        raise BuildError(spec.name, spec.source.name, e.lineno, f"syntax error: {e.msg}") from None
    except (ValueError, RecursionError, MemoryError) as e:  # null bytes, absurd nesting
        raise BuildError(spec.name, spec.source.name, None, f"cannot be parsed: {e}") from None
    functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    handler = functions.get("on_client_request")
    if handler is None:
        raise BuildError(spec.name, spec.source.name, None,
                         "no top-level on_client_request() function")
    args = handler.args
    nargs = len(args.args) + len(args.posonlyargs)
    if args.vararg or args.kwarg or args.kwonlyargs or nargs not in (0, 4):
        raise BuildError(spec.name, spec.source.name, handler.lineno,
                         "on_client_request must take no arguments or "
                         "(method, path, headers, body)")
    on_init = functions.get("on_init")
    if on_init is not None and (on_init.args.args or on_init.args.vararg):
        raise BuildError(spec.name, spec.source.name, on_init.lineno,
                         "on_init must take no arguments")
    return Handler(has_on_init=on_init is not None, handler_args=nargs)


_PYTHRAN_ERROR = re.compile(r"^(?P<file>[^\s:]+\.py):(?P<line>\d+):\d+ error: (?P<msg>.*)$", re.M)
_CXX_ERROR = re.compile(r"^(?P<file>[^\s:]+):(?P<line>\d+):\d+: (?:fatal )?error: (?P<msg>.*)$",
                        re.M)
# No location: "cc1plus: fatal error: /etc/passwd: No such file or directory"
_TOOL_ERROR = re.compile(r"^[\w.+-]+: (?:fatal )?error: (?P<msg>.*)$", re.M)
# GNU as: "ccXXXXXX.s:123: Error: file not found: /etc/passwd" (.incbin)
_AS_ERROR = re.compile(r"^[^\s:]+:\d+: Error: (?P<msg>.*)$", re.M)
# GNU ld: "/usr/bin/riscv64-linux-gnu-ld: cannot find ...: No such file or directory"
_LD_ERROR = re.compile(r"^\S*\bld: (?P<msg>.*)$", re.M)


def summarise_pythran(output: str) -> tuple[int | None, str]:
    m = _PYTHRAN_ERROR.search(output)
    if not m:
        # No location: "app.py: error: Module 'x.y' not found."
        m = re.search(r"^[^\s:]+\.py: error: (?P<msg>.*)$", output, re.M)
        if m:
            return None, m.group("msg").strip()
        lines = [l for l in output.splitlines() if l.startswith(("CRITICAL", "E:"))]
        return None, (lines[-1] if lines else "pythran failed").strip()
    message = m.group("msg").strip()
    # Pythran puts the interesting part of a folding error on a ">>> " line.
    detail = re.search(r"^>>> (.*)$", output[m.end():], re.M)
    if detail and message.endswith("exception:"):
        message = detail.group(1).strip()
    return int(m.group("line")), message


def summarise_cxx(output: str, source_name: str) -> tuple[int | None, str]:
    errors = list(_CXX_ERROR.finditer(output))
    if not errors:
        for pattern, what in ((_AS_ERROR, "assembler error"), (_LD_ERROR, "link error"),
                              (_TOOL_ERROR, "C++ error")):
            m = pattern.search(output)
            if m:
                return None, f"{what}: {m.group('msg').strip()}"
        lines = [l for l in output.splitlines() if l.strip()]
        return None, (lines[-1] if lines else "compiler failed").strip()
    # Prefer an error located in the tenant's own file over one deep in a header.
    own = [m for m in errors if Path(m.group("file")).name == source_name]
    m = (own or errors)[0]
    return (int(m.group("line")) if own else None), f"C++ error: {m.group('msg').strip()}"


def _tool_version(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        return out.stdout.splitlines()[0] if out.stdout else out.stderr.strip()
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"unavailable: {e}"


def read_source(spec: TenantSpec) -> bytes:
    """The tenant's app.py or app.cpp, if it is a regular file in its folder:
    a symlink would have the server read (and then compile, and quote in
    error messages) whatever it points at on the host; a FIFO would block."""
    try:
        fd = os.open(spec.source, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as e:
        what = ("is a symbolic link: a tenant's source must be a regular file in its folder"
                if spec.source.is_symlink() else f"cannot be read: {e.strerror}")
        raise BuildError(spec.name, spec.source.name, None, what) from None
    with open(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise BuildError(spec.name, spec.source.name, None, "is not a regular file")
        if info.st_size > MAX_SOURCE_BYTES:
            raise BuildError(spec.name, spec.source.name, None,
                             f"is {info.st_size:,} bytes; the limit is {MAX_SOURCE_BYTES:,}")
        return f.read(MAX_SOURCE_BYTES + 1)[:MAX_SOURCE_BYTES]


class Builder:
    """Builds tenants into ELFs under cache_dir/<hash>/app.elf."""

    def __init__(self, cache_dir: Path):
        self.cache_dir = Path(cache_dir)
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        self._toolchain: str | None = None

    def toolchain_fingerprint(self) -> str:
        if self._toolchain is None:
            import pythran
            self._toolchain = "\n".join([
                _tool_version([CXX, "--version"]),
                f"pythran {pythran.__version__}",
                " ".join(CXX_FLAGS + [PYTHON_STD, CPP_STD] + ALLOCATOR_FLAGS),
                SANDBOX_POLICY,
            ])
        return self._toolchain

    def cache_key(self, spec: TenantSpec, source: bytes, level: list[str] = OPTIMISED_FLAGS) -> str:
        h = hashlib.sha256()
        for part in (spec.language.encode(), source, self.toolchain_fingerprint().encode(),
                     " ".join(level).encode()):
            h.update(len(part).to_bytes(8, "little") + part)
        for guest_file in sorted(GUEST_DIR.iterdir()):
            if guest_file.is_file():
                h.update(guest_file.name.encode() + guest_file.read_bytes())
        # A build made without the sandbox is never served once it is back.
        h.update(b"unsandboxed" if build_sandbox.unsafe() else b"sandboxed")
        return h.hexdigest()[:32]

    def build(self, spec: TenantSpec, quick: bool = False,
              source: bytes | None = None) -> BuildResult:
        """Builds (or finds in the cache) the tenant's ELF: optimised, or
        with quick=True a quick build unless the optimised one is cached.
        `source` is the source to build instead of reading the tenant's file
        again. Every failure, whatever its cause, is a BuildError naming the
        tenant."""
        try:
            try:
                return self._build(spec, quick, source)
            except (BuildError, build_sandbox.Cancelled):
                raise
            except SandboxUnavailable as e:
                raise BuildError(spec.name, spec.source.name, None, str(e)) from None
            except Exception as e:  # a bug or a full disk must not escape a build thread
                raise BuildError(spec.name, spec.source.name, None,
                                 f"build failed: {type(e).__name__}: {e}") from e
        except BuildError as e:
            if e.log is None:  # failed before any tool ran (a syntax error): the message is the log
                e.log = self._write_failed_log(spec.name, f"{e}\n")
            raise

    def _build(self, spec: TenantSpec, quick: bool, source: bytes | None) -> BuildResult:
        started = time.monotonic()
        if source is None:
            source = read_source(spec)
        handler = None
        if spec.language == "python":
            handler = analyse_python(spec, source.decode("utf-8", errors="replace"))
        levels = [OPTIMISED_FLAGS, QUICK_FLAGS] if quick else [OPTIMISED_FLAGS]
        for level in levels:  # the best one already built
            target = self.cache_dir / self.cache_key(spec, source, level)
            if (target / "app.elf").is_file():
                return BuildResult(target / "app.elf", True, time.monotonic() - started,
                                   level is OPTIMISED_FLAGS, source)
        level = levels[-1]
        if shutil.which(CXX) is None:
            raise BuildError(spec.name, spec.source.name, None,
                             f"{CXX} not found (apt-get install g++-riscv64-linux-gnu)")
        if not build_sandbox.unsafe():
            build_sandbox.check_available()  # before any work: say plainly what is missing
        # work: the host's own folder (log, outputs), published as the cache
        # entry; work/scratch: the only folder the sandboxed tools can write.
        work = Path(tempfile.mkdtemp(prefix=f"{spec.name}-", dir=self.cache_dir))
        scratch = work / "scratch"
        try:
            scratch.mkdir()
            if build_sandbox.unsafe():
                (work / "build.log").write_text(f"WARNING: built without the build sandbox "
                                                f"({build_sandbox.UNSAFE_ENV}=1)\n")
            (work / spec.source.name).write_bytes(source)  # kept with the build, for reading
            if handler is not None:
                self._build_python(spec, source, handler, level, work, scratch)
            else:
                self._build_cpp(spec, source, level, work, scratch)
            try:
                output = build_sandbox.read_output(scratch / "app.elf",
                                                   build_sandbox.STEP_LIMITS.file_bytes)
            except OSError as e:
                raise BuildError(spec.name, spec.source.name, None, f"bad output: {e}") from None
            if output is None:
                raise BuildError(spec.name, spec.source.name, None, "the compiler wrote no app.elf")
            (work / "app.elf").write_bytes(output)
            (work / "app.elf").chmod(0o755)  # it also runs as a plain process (qemu-riscv64)
            shutil.rmtree(scratch)
            try:
                work.rename(target)  # atomic publish; a racing build of the same key wins
            except OSError:
                shutil.rmtree(work, ignore_errors=True)
        except BuildError as e:
            e.log = self._keep_failed_log(spec, work)
            raise
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
        return BuildResult(target / "app.elf", False, time.monotonic() - started,
                           level is OPTIMISED_FLAGS, source)

    def _build_python(self, spec: TenantSpec, source: bytes, handler: Handler, level: list[str],
                      work: Path, scratch: Path) -> None:
        import pythran
        # The output must be called app.cpp: Pythran names its namespace after it.
        argv = ["-e", "app.py", "-o", "app.cpp"]
        done = run_pythran(source, argv, LOG_KEEP_BYTES, BUILD_TIMEOUT_S)
        text = done.output.decode("utf-8", errors="replace")
        self._log(work, " ".join(["pythran", *argv]), text, done.output_size)
        if done.code is None:
            raise BuildError(spec.name, spec.source.name, None,
                             f"pythran took longer than {BUILD_TIMEOUT_S} s and was stopped")
        if done.died is not None:
            limits = build_sandbox.STEP_LIMITS
            raise BuildError(spec.name, spec.source.name, None,
                             f"pythran exited with status {done.died} without finishing "
                             f"(its limits: {limits.memory_bytes >> 20} MiB of memory, "
                             f"{limits.processes} processes)")
        if done.code != 0:
            limit = _limit_message(text, done.code, "pythran")
            if limit:
                raise BuildError(spec.name, spec.source.name, None, limit)
            line, message = summarise_pythran(text)
            raise BuildError(spec.name, spec.source.name, line, message)
        if done.cpp is None:
            raise BuildError(spec.name, spec.source.name, None, "pythran wrote no app.cpp")
        # str literals built once before ready instead of on every call
        # (literals.py); surrogateescape keeps any byte as it was.
        cpp, hoisted = hoist_literals(done.cpp.decode("utf-8", "surrogateescape"))
        cpp_bytes = cpp.encode("utf-8", "surrogateescape")
        self._log(work, "hoist literals", f"{hoisted} str literal expressions hoisted\n")
        (scratch / "app.cpp").write_bytes(cpp_bytes)
        (work / "app.cpp").write_bytes(cpp_bytes)
        defines = [f"-DMTD_HANDLER_ARGS={handler.handler_args}"]
        if handler.has_on_init:
            defines.append("-DMTD_HAS_ON_INIT")
        compile_argv = [CXX, PYTHON_STD, *level, *CXX_FLAGS, f"-I{Path(pythran.__file__).parent}",
                        f"-I{GUEST_DIR}"]
        pch = precompiled_header(self.cache_dir, GUEST_DIR, compile_argv, BUILD_TIMEOUT_S)
        allocator = self._allocator(spec, work)
        argv = [*compile_argv, *defines, f"-I{scratch}", *(["-include", str(pch)] if pch else []),
                str(GUEST_DIR / "pythran_shim.cpp"), str(allocator), "-o", "app.elf"]
        # The cached header and allocator are visible to the build, read-only.
        inputs = [allocator, *([pch.parent] if pch else [])]
        out = self._run(spec, argv, scratch, work, "compile", inputs)
        if out.returncode != 0:
            # Generated C++ lines mean nothing to the author; report the message only.
            message = (_limit_message(out.stdout, out.returncode, "compile")
                       or summarise_cxx(out.stdout, "app.py")[1])
            raise BuildError(spec.name, spec.source.name, None, message)

    def _build_cpp(self, spec: TenantSpec, source: bytes, level: list[str], work: Path,
                   scratch: Path) -> None:
        (scratch / "app.cpp").write_bytes(source)
        allocator = self._allocator(spec, work)
        argv = [CXX, CPP_STD, *level, *CXX_FLAGS, f"-I{GUEST_DIR}", "app.cpp", str(allocator),
                "-o", "app.elf"]
        out = self._run(spec, argv, scratch, work, "compile", [allocator])
        if out.returncode != 0:
            limit = _limit_message(out.stdout, out.returncode, "compile")
            line, message = (None, limit) if limit else summarise_cxx(out.stdout, "app.cpp")
            raise BuildError(spec.name, spec.source.name, line, message)

    _allocator_lock = threading.Lock()

    def _allocator(self, spec: TenantSpec, work: Path) -> Path:
        """The allocator's object file, linked before libc.a so it replaces
        glibc's malloc. Cached under cache_dir/runtime/<hash of compiler,
        flags and source>; built in a sandbox of its own (never in a
        tenant's scratch), published by an atomic rename."""
        argv = [CXX, *ALLOCATOR_FLAGS]
        source = ALLOCATOR.read_bytes()
        key = hashlib.sha256("\0".join([self.toolchain_fingerprint(), *argv]).encode()
                             + b"\0" + source).hexdigest()[:24]
        obj = self.cache_dir / "runtime" / key / "mtd_malloc.o"
        if obj.is_file():
            return obj
        with self._allocator_lock:
            if obj.is_file():
                return obj
            obj.parent.mkdir(parents=True, exist_ok=True)
            own = Path(tempfile.mkdtemp(prefix="build-", dir=obj.parent))
            try:
                (own / "scratch").mkdir()
                out = self._run(spec, [*argv, str(ALLOCATOR), "-o", "mtd_malloc.o"],
                                own / "scratch", work, "allocator")
                if out.returncode != 0:
                    raise BuildError(spec.name, ALLOCATOR.name, None,
                                     f"guest allocator: {summarise_cxx(out.stdout, ALLOCATOR.name)[1]}")
                built = build_sandbox.read_output(own / "scratch" / "mtd_malloc.o",
                                                  build_sandbox.STEP_LIMITS.file_bytes)
                if built is None:
                    raise BuildError(spec.name, ALLOCATOR.name, None,
                                     "guest allocator: the compiler wrote no object file")
                staged = own / "mtd_malloc.o"
                staged.write_bytes(built)
                os.replace(staged, obj)
            finally:
                shutil.rmtree(own, ignore_errors=True)
        return obj

    def _run(self, spec: TenantSpec, argv: list[str], scratch: Path, work: Path, step: str,
             inputs: list[Path] = ()):
        """Runs one step in the build sandbox (cwd: scratch) with a time limit,
        appending its capped output to work/build.log."""
        capture = work / f"{step}.out"  # the host's file: the sandbox only gets the fd
        with open(capture, "wb") as out:
            returncode = build_sandbox.run(argv, scratch, out, BUILD_TIMEOUT_S,
                                           inputs=list(inputs), compiler=CXX)
        size = capture.stat().st_size
        with open(capture, "rb") as out:
            text = out.read(LOG_KEEP_BYTES).decode("utf-8", errors="replace")
        capture.unlink(missing_ok=True)
        self._log(work, " ".join(argv), text, size)
        if returncode is None:
            raise BuildError(spec.name, spec.source.name, None,
                             f"{step} took longer than {BUILD_TIMEOUT_S} s and was stopped")
        if returncode != 0 and size >= build_sandbox.STEP_LIMITS.file_bytes:
            # Its own messages hit the file size limit (so it could not say so).
            returncode = -signal.SIGXFSZ
        return subprocess.CompletedProcess(argv, returncode, stdout=text)

    @staticmethod
    def _log(work: Path, command: str, text: str, size: int | None = None) -> None:
        if size is not None and size > LOG_KEEP_BYTES:
            text += f"\n[... {size - LOG_KEEP_BYTES} more bytes of output dropped]\n"
        with open(work / "build.log", "a") as log:
            log.write(f"$ {command}\n{text}\n")

    def _keep_failed_log(self, spec: TenantSpec, work: Path) -> Path | None:
        """Keeps the last failed build's log at cache_dir/failed/<tenant>.log."""
        log, kept = work / "build.log", self.failed_log(spec.name)
        if log.is_file():
            kept.parent.mkdir(exist_ok=True)
            shutil.copyfile(log, kept)
        shutil.rmtree(work, ignore_errors=True)
        return kept if kept.is_file() else None

    def _write_failed_log(self, tenant: str, text: str) -> Path | None:
        kept = self.failed_log(tenant)
        try:
            kept.parent.mkdir(parents=True, exist_ok=True)
            kept.write_text(text)
        except OSError:
            return None
        return kept

    def failed_log(self, tenant: str) -> Path:
        return self.cache_dir / "failed" / f"{tenant}.log"


def _limit_message(output: str, returncode: int, step: str) -> str | None:
    """A step stopped by one of the sandbox's limits, said plainly."""
    limits = build_sandbox.STEP_LIMITS
    if returncode == -signal.SIGXFSZ or "File size limit exceeded" in output:
        return f"{step} wrote more than the {limits.file_bytes >> 20} MiB output limit and was stopped"
    if "No space left on device" in output:
        return f"{step} found no space left on the build cache's disk"
    if returncode == -signal.SIGXCPU or "CPU time limit exceeded" in output:
        return f"{step} took more than {BUILD_TIMEOUT_S} s of CPU time and was stopped"
    if re.search(r"out of memory allocating|virtual memory exhausted|std::bad_alloc|"
                 r"^MemoryError|Cannot allocate memory", output, re.M):
        return f"{step} ran out of memory (the limit is {limits.memory_bytes >> 20} MiB per process)"
    return None
