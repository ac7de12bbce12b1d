"""The build pipeline: a tenant's app.py -> Pythran C++ -> riscv64 static ELF
(or app.cpp -> ELF directly), cached by the hash of everything that goes in.

Failures become a BuildError whose message is one readable line naming the
tenant, file and line; the compiler's full output stays in a log file."""

from __future__ import annotations

import ast
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from .pch import precompiled_header
from .pythran_runner import run_pythran
from .tenants import TenantSpec

GUEST_DIR = Path(__file__).resolve().parent / "guest"
CXX = os.environ.get("MTD_RISCV_CXX", "riscv64-linux-gnu-g++")
CXX_FLAGS = ["-O2", "-static", "-w"]
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


class BuildError(Exception):
    def __init__(self, tenant: str, file: str, line: int | None, message: str,
                 log: Path | None = None):
        self.tenant, self.file, self.line, self.message, self.log = tenant, file, line, message, log
        where = f"{file}:{line}" if line else file
        super().__init__(f"{tenant}: {where}: {message}")


@dataclass
class BuildResult:
    elf: Path
    cached: bool
    seconds: float


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


def summarise_pythran(output: str) -> tuple[int | None, str]:
    m = _PYTHRAN_ERROR.search(output)
    if not m:
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
            ])
        return self._toolchain

    def cache_key(self, spec: TenantSpec, source: bytes) -> str:
        h = hashlib.sha256()
        for part in (spec.language.encode(), source, self.toolchain_fingerprint().encode()):
            h.update(len(part).to_bytes(8, "little") + part)
        for guest_file in sorted(GUEST_DIR.iterdir()):
            if guest_file.is_file():
                h.update(guest_file.name.encode() + guest_file.read_bytes())
        return h.hexdigest()[:32]

    def build(self, spec: TenantSpec) -> BuildResult:
        started = time.monotonic()
        source = spec.source.read_bytes()
        handler = None
        if spec.language == "python":
            handler = analyse_python(spec, source.decode("utf-8", errors="replace"))
        target = self.cache_dir / self.cache_key(spec, source)
        elf = target / "app.elf"
        if elf.is_file():
            return BuildResult(elf, True, time.monotonic() - started)
        if shutil.which(CXX) is None:
            raise BuildError(spec.name, spec.source.name, None,
                             f"{CXX} not found (apt-get install g++-riscv64-linux-gnu)")
        work = Path(tempfile.mkdtemp(prefix=f"{spec.name}-", dir=self.cache_dir))
        try:
            if handler is not None:
                self._build_python(spec, source, handler, work)
            else:
                self._build_cpp(spec, source, work)
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
        return BuildResult(elf, False, time.monotonic() - started)

    def _build_python(self, spec: TenantSpec, source: bytes, handler: Handler, work: Path) -> None:
        import pythran
        (work / "app.py").write_bytes(source)
        # The output must be called app.cpp: Pythran names its namespace after it.
        out = self._run(spec, ["pythran", "-e", "app.py", "-o", "app.cpp"], work, "pythran")
        if out.returncode != 0:
            line, message = summarise_pythran(out.stdout)
            raise BuildError(spec.name, spec.source.name, line, message)
        defines = [f"-DMTD_HANDLER_ARGS={handler.handler_args}"]
        if handler.has_on_init:
            defines.append("-DMTD_HAS_ON_INIT")
        compile_argv = [CXX, PYTHON_STD, *CXX_FLAGS, f"-I{Path(pythran.__file__).parent}",
                        f"-I{GUEST_DIR}"]
        pch = precompiled_header(self.cache_dir, GUEST_DIR, compile_argv, BUILD_TIMEOUT_S)
        argv = [*compile_argv, *defines, f"-I{work}", *(["-include", str(pch)] if pch else []),
                str(GUEST_DIR / "pythran_shim.cpp"), str(self._allocator(spec, work)),
                "-o", "app.elf"]
        out = self._run(spec, argv, work, "compile")
        if out.returncode != 0:
            # Generated C++ lines mean nothing to the author; report the message only.
            _, message = summarise_cxx(out.stdout, "app.py")
            raise BuildError(spec.name, spec.source.name, None, message)

    def _build_cpp(self, spec: TenantSpec, source: bytes, work: Path) -> None:
        (work / "app.cpp").write_bytes(source)
        argv = [CXX, CPP_STD, *CXX_FLAGS, f"-I{GUEST_DIR}", "app.cpp",
                str(self._allocator(spec, work)), "-o", "app.elf"]
        out = self._run(spec, argv, work, "compile")
        if out.returncode != 0:
            line, message = summarise_cxx(out.stdout, "app.cpp")
            raise BuildError(spec.name, spec.source.name, line, message)

    def _allocator(self, spec: TenantSpec, work: Path) -> Path:
        """The allocator's object file, linked before libc.a so it replaces
        glibc's malloc. Cached under cache_dir/runtime/<hash of compiler,
        flags and source>; published by an atomic rename."""
        argv = [CXX, *ALLOCATOR_FLAGS]
        source = ALLOCATOR.read_bytes()
        key = hashlib.sha256("\0".join([self.toolchain_fingerprint(), *argv]).encode()
                             + b"\0" + source).hexdigest()[:24]
        obj = self.cache_dir / "runtime" / key / "mtd_malloc.o"
        if obj.is_file():
            return obj
        out = self._run(spec, [*argv, str(ALLOCATOR), "-o", "mtd_malloc.o"], work, "allocator")
        if out.returncode != 0:
            raise BuildError(spec.name, ALLOCATOR.name, None,
                             f"guest allocator: {summarise_cxx(out.stdout, ALLOCATOR.name)[1]}")
        obj.parent.mkdir(parents=True, exist_ok=True)
        staged = obj.parent / f"mtd_malloc.o.{os.getpid()}.{threading.get_ident()}"
        shutil.copyfile(work / "mtd_malloc.o", staged)
        os.replace(staged, obj)
        (work / "mtd_malloc.o").unlink()
        return obj

    def _run(self, spec: TenantSpec, argv: list[str], cwd: Path, step: str):
        """Runs one step with a time limit, appending its capped output to build.log.
        The pythran step runs in a child of the preloaded fork server."""
        capture = cwd / f"{step}.out"
        if argv[0] == "pythran":
            returncode = run_pythran(cwd, argv[1:], capture, BUILD_TIMEOUT_S)
        else:
            with open(capture, "wb") as out:
                try:
                    returncode = subprocess.run(argv, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                                timeout=BUILD_TIMEOUT_S).returncode
                except subprocess.TimeoutExpired:
                    returncode = None
                except FileNotFoundError:
                    raise BuildError(spec.name, spec.source.name, None,
                                     f"{argv[0]} not found") from None
        size = capture.stat().st_size if capture.exists() else 0
        with open(capture, "rb") if size else open(os.devnull, "rb") as out:
            text = out.read(LOG_KEEP_BYTES).decode("utf-8", errors="replace")
        capture.unlink(missing_ok=True)
        if size > LOG_KEEP_BYTES:
            text += f"\n[... {size - LOG_KEEP_BYTES} more bytes of output dropped]\n"
        with open(cwd / "build.log", "a") as log:
            log.write(f"$ {' '.join(argv)}\n{text}\n")
        if returncode is None:
            raise BuildError(spec.name, spec.source.name, None,
                             f"{step} took longer than {BUILD_TIMEOUT_S} s and was stopped")
        return subprocess.CompletedProcess(argv, returncode, stdout=text)

    def _keep_failed_log(self, spec: TenantSpec, work: Path) -> Path | None:
        """Keeps the last failed build's log at cache_dir/failed/<tenant>.log."""
        log, kept = work / "build.log", self.failed_log(spec.name)
        if log.is_file():
            kept.parent.mkdir(exist_ok=True)
            shutil.copyfile(log, kept)
        shutil.rmtree(work, ignore_errors=True)
        return kept if kept.is_file() else None

    def failed_log(self, tenant: str) -> Path:
        return self.cache_dir / "failed" / f"{tenant}.log"
