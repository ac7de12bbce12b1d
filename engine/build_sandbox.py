"""The build sandbox: every tool a tenant build runs (Pythran, and g++ with
what it starts: cc1plus, as, collect2, ld) runs inside bubblewrap (`bwrap`),
because tenants are hostile and their source steers those tools: `#include
"/etc/passwd"`, `asm(".incbin ...")`, a Pythran relative import of any .py
file on the machine all read what the tool can read.

What a build step sees (everything else does not exist for it):

  /usr                   read-only: compilers, headers, libraries, and /bin,
                         /lib, /lib64, /sbin as on the host (symlinks into
                         /usr, or read-only if they are real folders)
  the Python install     read-only: the venv (sys.prefix) and the interpreter
                         it was made from (sys.base_prefix), for Pythran
  engine/                read-only: mtd's engine folder (the guest headers in
                         engine/guest, the Pythran worker script)
  the compiler's prefix  read-only, only when MTD_RISCV_CXX points outside /usr
  inputs                 read-only, each one file or folder at its own path:
                         the cached precompiled header and allocator object
  scratch                read-write, the step's own folder holding a copy of
                         the tenant's source: the only place it can write
                         (TMPDIR points there too; the root and /dev are
                         remounted read-only once the binds are in place)
  /dev                   a minimal one: null, zero, full, random, urandom, tty

No /etc (g++ and Python need none of it: ld.so finds the toolchain's libraries
in its built-in paths, C.UTF-8 is built into glibc), no /proc, /sys, /run or
/var, nothing of /home or /root but the folders above, no tenant folder, no
build cache, no other build's scratch, no /tmp. New user, mount, pid, ipc, uts, net and cgroup namespaces: no
network at all (the loopback device is down), no capabilities, no nested
user namespaces, a new session (no TIOCSTI into the server's terminal), an
empty environment but PATH, HOME (the scratch), LANG and TMPDIR, and it is
killed with the thread that started it.

Limits, set by prlimit inside the sandbox (so they bind the tool and every
process it starts, each process on its own):

  time        wall clock: the caller's timeout (build.BUILD_TIMEOUT_S); the
              whole process tree is killed. CPU: the same number of seconds.
  memory      RLIMIT_AS (address space) of Limits.memory_bytes per process.
              Measured: every step of the bundled tenants builds under 160
              MiB (the Pythran worker and cc1plus alike), the precompiled
              header under 256 MiB; heavy templates or a Pythran type
              explosion take 1-2 GB, so the default is 2 GiB.
  output      RLIMIT_FSIZE of Limits.file_bytes per file written (the ELF, the
              object files, the captured compiler output).
  processes   Limits.processes in one sandbox: a pids cgroup of its own
              where the machine has one that mtd may create groups in
              (cgroup v1's pids hierarchy, or v2 with the pids controller:
              root, or a delegated group), which counts every process
              whoever runs them; else RLIMIT_NPROC, set inside the
              sandbox's own user namespace, which the kernel does not apply
              to root.

If bwrap is missing or cannot create its namespaces, builds fail with
SandboxUnavailable saying so and how to fix it. MTD_UNSAFE_UNSANDBOXED_BUILDS=1
(for a developer machine without user namespaces, never a server) runs the
same commands without the sandbox, limits still applied, and every build
says so in the log."""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

UNSAFE_ENV = "MTD_UNSAFE_UNSANDBOXED_BUILDS"
BWRAP = "bwrap"
PRLIMIT = "/usr/bin/prlimit"
ENGINE_DIR = Path(__file__).resolve().parent
# The root's top-level names that merged-/usr systems make symlinks into /usr.
USR_ALIASES = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")


@dataclass(frozen=True)
class Limits:
    memory_bytes: int = 2 << 30  # address space per process (RLIMIT_AS)
    file_bytes: int = 64 << 20   # size of any one file written (RLIMIT_FSIZE)
    processes: int = 32          # processes in one sandbox (RLIMIT_NPROC)


STEP_LIMITS = Limits()
# The precompiled Pythran header is ~56 MB: the one step allowed a bigger file.
PCH_LIMITS = Limits(file_bytes=512 << 20)


class SandboxUnavailable(Exception):
    """bwrap is missing or unusable here; the message says how to fix it."""


def unsafe() -> bool:
    """The developer opt-out: builds run without the sandbox."""
    return os.environ.get(UNSAFE_ENV, "") == "1"


def toolchain_paths(compiler: str | None = None) -> list[Path]:
    """Folders bound read-only into every sandbox besides /usr."""
    paths = [Path(sys.prefix), Path(sys.base_prefix), ENGINE_DIR]
    if compiler:
        resolved = Path(shutil.which(compiler) or compiler).resolve()
        if not _under(resolved, Path("/usr")):
            # e.g. /opt/riscv/bin/g++: its whole install prefix
            paths.append(resolved.parent.parent if resolved.parent.name == "bin"
                         else resolved.parent)
    unique: list[Path] = []
    for p in (p.resolve() for p in paths):
        if not _under(p, Path("/usr")) and p not in unique:
            unique.append(p)
    return unique


def python_executable() -> str:
    """This interpreter by a path that exists inside the sandbox: sys.executable
    may go through folders that are not there (e.g. tests/../.venv/bin/python),
    and the venv's own bin/python is what finds the venv's site-packages."""
    own = Path(sys.prefix) / "bin" / Path(sys.executable).name
    return str(own) if own.exists() else os.path.realpath(sys.executable)


def _under(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def bwrap_argv(scratch: Path, inputs: list[Path] = (), compiler: str | None = None) -> list[str]:
    """bwrap's options for the policy above (the command goes after them)."""
    argv = [BWRAP, "--unshare-all", "--unshare-user", "--disable-userns",
            "--die-with-parent", "--new-session", "--cap-drop", "ALL",
            "--hostname", "mtd-build", "--clearenv",
            "--setenv", "PATH", "/usr/bin:/bin", "--setenv", "HOME", str(scratch),
            "--setenv", "LANG", "C.UTF-8", "--setenv", "TMPDIR", str(scratch),
            "--setenv", "PYTHONDONTWRITEBYTECODE", "1",
            # NumPy (imported by Pythran) would start a BLAS thread per core.
            "--setenv", "OPENBLAS_NUM_THREADS", "1", "--setenv", "OMP_NUM_THREADS", "1",
            "--ro-bind", "/usr", "/usr"]
    for name in USR_ALIASES:
        top = Path("/") / name
        if top.is_symlink():
            argv += ["--symlink", os.readlink(top), str(top)]
        elif top.is_dir():
            argv += ["--ro-bind", str(top), str(top)]
    argv += ["--dev", "/dev"]
    for path in toolchain_paths(compiler):
        argv += ["--ro-bind", str(path), str(path)]
    for path in inputs:
        argv += ["--ro-bind", str(path), str(path)]
    argv += ["--bind", str(scratch), str(scratch), "--chdir", str(scratch),
             # Last: the folders bwrap made to hold the binds become read-only.
             "--remount-ro", "/dev", "--remount-ro", "/"]
    return argv


def limit_argv(limits: Limits, cpu_seconds: float, sandboxed: bool = True) -> list[str]:
    argv = [PRLIMIT, f"--as={limits.memory_bytes}", f"--fsize={limits.file_bytes}",
            f"--cpu={max(1, int(cpu_seconds))}", "--core=0"]
    if sandboxed:  # outside a sandbox it would count every process of this user
        argv.append(f"--nproc={limits.processes}")
    return [*argv, "--"]


def command(argv: list[str], scratch: Path, *, inputs: list[Path] = (),
            limits: Limits | None = None, cpu_seconds: float = 180,
            compiler: str | None = None) -> list[str]:
    """The full command line that runs argv in the sandbox with cwd scratch.
    Raises SandboxUnavailable if the sandbox cannot run here."""
    limits = limits or STEP_LIMITS  # read now: tests lower it
    if unsafe():
        return [*limit_argv(limits, cpu_seconds, sandboxed=False), *argv]
    check_available()
    return [*bwrap_argv(Path(scratch), list(inputs), compiler),
            *limit_argv(limits, cpu_seconds), *argv]


def environment(scratch: Path) -> dict[str, str]:
    """The environment the command starts with (bwrap clears it again inside)."""
    return {"PATH": "/usr/bin:/bin", "HOME": str(scratch), "LANG": "C.UTF-8",
            "TMPDIR": str(scratch), "PYTHONDONTWRITEBYTECODE": "1",
            "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}


_CGROUP_ROOTS = (Path("/sys/fs/cgroup/pids"), Path("/sys/fs/cgroup"))  # cgroup v1, v2
_cgroup_root: Path | None | bool = False  # False: not looked for yet
_cgroup_ids = itertools.count()


def pids_cgroup_root() -> Path | None:
    """Where this process may make pids cgroups (one per sandbox), or None."""
    global _cgroup_root
    if _cgroup_root is False:
        _cgroup_root = None
        for root in _CGROUP_ROOTS:
            probe = root / f"mtd-build-{os.getpid()}-probe"
            try:
                probe.mkdir()
            except OSError:
                continue
            usable = (probe / "pids.max").exists()
            probe.rmdir()
            if usable:
                _cgroup_root = root
                break
    return _cgroup_root


def _orphaned(name: str) -> bool:
    """mtd-build-<pid>-<n> made by a process that is gone."""
    try:
        os.kill(int(name.split("-")[2]), 0)
    except (IndexError, ValueError, PermissionError):
        return False
    except ProcessLookupError:
        return True
    return False


_groups: dict[Path, subprocess.Popen] = {}  # this process's pids cgroups, by sandbox
_groups_lock = threading.Lock()


def _process_cgroup(limits: Limits) -> Path | None:
    """A fresh pids cgroup capped at the sandbox's processes (bwrap's own
    two included), or None where there is none to be had. Groups of
    sandboxes that ended, here or in a process that is gone, are removed on
    the way."""
    root = pids_cgroup_root()
    if root is None:
        return None
    with _groups_lock:
        for group, process in list(_groups.items()):
            if process.poll() is not None:
                with contextlib.suppress(OSError):
                    group.rmdir()
                    del _groups[group]
    for old in root.glob("mtd-build-*"):
        if _orphaned(old.name):
            with contextlib.suppress(OSError):
                old.rmdir()
    group = root / f"mtd-build-{os.getpid()}-{next(_cgroup_ids)}"
    group.mkdir()
    (group / "pids.max").write_text(str(limits.processes + 2))
    return group


def popen(argv: list[str], scratch: Path, *, inputs: list[Path] = (),
          limits: Limits | None = None, cpu_seconds: float = 180,
          compiler: str | None = None, **kwargs) -> subprocess.Popen:
    """Starts argv in the sandbox, in its own process group (kill_tree)."""
    full = command(argv, scratch, inputs=inputs, limits=limits, cpu_seconds=cpu_seconds,
                   compiler=compiler)
    group = None if unsafe() else _process_cgroup(limits or STEP_LIMITS)
    if group is not None:
        # The shell joins the group, then becomes bwrap: everything the
        # sandbox starts is counted there.
        full = ["/bin/sh", "-c", 'echo $$ > "$0" && exec "$@"', str(group / "cgroup.procs"), *full]
    process = subprocess.Popen(full, cwd=scratch, env=environment(scratch),
                               start_new_session=True, close_fds=True, **kwargs)
    if group is not None:
        with _groups_lock:
            _groups[group] = process  # removed once the process has ended
    return process


class Cancelled(Exception):
    """A step stopped because the work it was for is no longer wanted."""


_scope = threading.local()
CANCEL_POLL_S = 0.05


@contextlib.contextmanager
def cancel_when(predicate):
    """Every step run() starts in this thread within the block is killed
    (and raises Cancelled) as soon as predicate() is true: background work
    for a version that a newer one replaced does not hold the cores."""
    outer = getattr(_scope, "predicate", None)
    _scope.predicate = predicate
    try:
        yield
    finally:
        _scope.predicate = outer


def run(argv: list[str], scratch: Path, output, timeout_s: float, *,
        inputs: list[Path] = (), limits: Limits | None = None,
        compiler: str | None = None) -> int | None:
    """Runs argv in the sandbox with stdout and stderr to the file object
    `output`. Its exit status (negative: killed by that signal), or None if
    it ran out of time (then every process it started is killed). Within
    cancel_when(), raises Cancelled once that says so."""
    cancelled = getattr(_scope, "predicate", None)
    process = popen(argv, scratch, inputs=inputs, limits=limits, cpu_seconds=timeout_s,
                    compiler=compiler, stdin=subprocess.DEVNULL, stdout=output,
                    stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            left = deadline - time.monotonic()
            try:
                return process.wait(timeout=max(0.0, min(left, CANCEL_POLL_S) if cancelled else left))
            except subprocess.TimeoutExpired:
                if time.monotonic() >= deadline:
                    kill_tree(process)
                    return None
                if cancelled():
                    raise Cancelled(f"{Path(argv[0]).name} stopped: no longer wanted") from None
    except BaseException:
        kill_tree(process)
        raise


def kill_tree(process: subprocess.Popen) -> None:
    """Kills the process and its group (bwrap takes the sandbox with it)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    process.kill()
    process.wait()


_checked = False
_check_lock = threading.Lock()


def check_available() -> None:
    """Raises SandboxUnavailable unless bwrap can set up the sandbox here
    (tried once per process with the real policy; a failure is re-tried)."""
    global _checked
    if _checked:
        return
    with _check_lock:
        if _checked:
            return
        if shutil.which(BWRAP) is None:
            raise SandboxUnavailable(
                "bwrap (bubblewrap) is not installed, and tenant builds run only in its "
                "sandbox: apt-get install bubblewrap (./mtd setup does it)" + _OPT_OUT)
        if not os.access(PRLIMIT, os.X_OK):
            raise SandboxUnavailable(f"{PRLIMIT} not found: apt-get install util-linux")
        probe = Path(os.environ.get("TMPDIR", "/tmp"))
        try:
            done = subprocess.run([*bwrap_argv(probe), "/bin/true"], capture_output=True,
                                  text=True, timeout=30, env=environment(probe))
        except (OSError, subprocess.TimeoutExpired) as e:
            raise SandboxUnavailable(f"bwrap cannot run: {e}" + _OPT_OUT) from None
        if done.returncode != 0:
            reason = (done.stderr.strip().splitlines() or ["no message"])[-1]
            raise SandboxUnavailable(
                f"bwrap cannot create the build sandbox ({reason}); user namespaces are "
                "probably disabled: sysctl kernel.unprivileged_userns_clone=1 (Debian), "
                "kernel.apparmor_restrict_unprivileged_userns=0 (Ubuntu 24.04), or allow "
                "unshare in the container (docker: --security-opt seccomp=unconfined)"
                + _OPT_OUT)
        _checked = True


_OPT_OUT = f"; a developer machine may set {UNSAFE_ENV}=1 to build without it (never a server)"


def read_output(path: Path, max_bytes: int) -> bytes | None:
    """The bytes of a file a sandbox wrote, refusing anything but a regular
    file of at most max_bytes (it may have left a symlink to a host file, or
    a FIFO, under that name). None if there is no such file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise OSError(f"{path.name}: not a regular file ({e.strerror})") from None
    with open(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise OSError(f"{path.name}: not a regular file")
        if info.st_size > max_bytes:
            raise OSError(f"{path.name}: {info.st_size:,} bytes, over the {max_bytes:,} limit")
        return f.read(max_bytes + 1)[:max_bytes]
