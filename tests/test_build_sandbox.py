"""The build sandbox (engine/build_sandbox.py): tenant source steers the
compilers, so a build must not be able to read or write anything of the
host beyond the toolchain and its own scratch folder, reach the network or
outgrow its limits. Each attack must end in a BuildError that names what
it tried (or do no harm), and the host's bytes must never reach an ELF."""

from __future__ import annotations

import os
import select
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import psutil
import pytest

from mtd.engine import BuildError, Builder, build as build_module, build_sandbox
from mtd.engine.pythran_runner import WORKER
from mtd.engine.tenants import load_tenant

from conftest import TENANTS

CPP_HEAD = '#include "mtd_guest.h"\n'
CPP_MAIN = 'int main() { mtd_ready(); mtd_respond(200, "text/plain", 10, "ok", 2); }\n'
# Enough "../" to reach / from any scratch folder: the rest of the path is
# then read as if it were absolute.
UP = "../" * 40


def tenant(root: Path, name: str, filename: str, source: str):
    folder = root / name
    folder.mkdir(parents=True)
    (folder / filename).write_text(source)
    return load_tenant(folder)


def incbin(path: str) -> str:
    return (CPP_HEAD + 'asm(".section .rodata\\n.global leak\\nleak:\\n.incbin \\"' + path
            + '\\"\\n.byte 0\\n.text\\n");\nextern "C" const char leak[];\n'
            'int main() { mtd_ready(); mtd_respond(200, "text/plain", 10, leak, 64); }\n')


@pytest.fixture
def secret(tmp_path) -> bytes:
    """A host file the tenants must never read: its path and bytes."""
    marker = f"MTD-HOST-SECRET-{os.getpid()}-{time.monotonic_ns()}".encode()
    (tmp_path / "secret.txt").write_bytes(marker + b"\n")
    return marker


def elves(*roots: Path) -> list[Path]:
    return [p for root in roots for p in Path(root).rglob("app.elf")]


def assert_nowhere(marker: bytes, *roots: Path) -> None:
    for elf in elves(*roots):
        assert marker not in elf.read_bytes(), f"{marker!r} leaked into {elf}"


def failed_build(builder: Builder, spec) -> BuildError:
    with pytest.raises(BuildError) as info:
        builder.build(spec)
    error = info.value
    assert str(error).startswith(f"{spec.name}: {spec.source.name}")
    assert "\n" not in str(error)
    return error


# -- a tenant's source reaching for host files -------------------------------

HOST_FILES = ["/etc/passwd", "/etc/hostname"]


@pytest.mark.parametrize("path", HOST_FILES)
def test_incbin_of_a_host_file_fails_and_names_it(builder, cache_dir, tmp_path, path):
    spec = tenant(tmp_path, "incbin", "app.cpp", incbin(path))
    error = failed_build(builder, spec)
    assert f"file not found: {path}" in str(error)
    head = Path(path).read_bytes()[:24]
    if len(head) >= 16:  # long enough not to be found by chance
        assert_nowhere(head, cache_dir)


def test_incbin_of_a_planted_file_fails(builder, cache_dir, tmp_path, secret):
    path = str(tmp_path / "secret.txt")
    error = failed_build(builder, tenant(tmp_path, "planted", "app.cpp", incbin(path)))
    assert path in str(error)
    assert_nowhere(secret, cache_dir)


@pytest.mark.parametrize("path", HOST_FILES)
def test_include_of_a_host_file_fails_and_names_it(builder, tmp_path, path):
    source = CPP_HEAD + f'const char* s =\n#include "{path}"\n;\n' + CPP_MAIN
    error = failed_build(builder, tenant(tmp_path, "include", "app.cpp", source))
    assert str(error) == (f"include: app.cpp:3: C++ error: {path}: No such file or directory")


def test_relative_incbin_of_another_tenants_source_fails(builder, cache_dir, tmp_path, secret):
    victim = tenant(tmp_path / "tenants", "victim", "app.py",
                    f"def on_client_request():\n    return 'text/plain', '{secret.decode()}'\n")
    relative = UP + str(victim.source).lstrip("/")
    attacker = tenant(tmp_path / "tenants", "attacker", "app.cpp", incbin(relative))
    error = failed_build(builder, attacker)
    assert f"file not found: {relative}" in str(error)
    assert_nowhere(secret, cache_dir)


def test_source_symlinked_outside_is_refused(builder, cache_dir, tmp_path, secret):
    folder = tmp_path / "linker"
    folder.mkdir()
    (folder / "app.cpp").symlink_to(tmp_path / "secret.txt")
    error = failed_build(builder, load_tenant(folder))
    assert "symbolic link" in str(error)
    assert secret.decode() not in str(error)
    assert not error.log or secret not in error.log.read_bytes()
    assert_nowhere(secret, cache_dir)


def test_symlink_beside_the_source_is_not_in_the_sandbox(builder, cache_dir, tmp_path, secret):
    spec = tenant(tmp_path, "beside", "app.cpp", incbin("data.txt"))
    (spec.directory / "data.txt").symlink_to(tmp_path / "secret.txt")
    error = failed_build(builder, spec)
    assert "file not found: data.txt" in str(error)
    assert_nowhere(secret, cache_dir)


def test_build_cache_is_not_readable(builder, cache_dir, bundled_elves, tmp_path):
    hello = bundled_elves["hello"]
    error = failed_build(builder, tenant(tmp_path, "cache", "app.cpp", incbin(str(hello))))
    assert f"file not found: {hello}" in str(error)
    # The only cached files a build can read are the allocator object and
    # the precompiled header, read-only; not another build's log.
    log = hello.parent / "build.log"
    source = CPP_HEAD + f'const char* s =\n#include "{log}"\n;\n' + CPP_MAIN
    error = failed_build(builder, tenant(tmp_path, "cache2", "app.cpp", source))
    assert f"{log}: No such file or directory" in str(error)


@pytest.mark.parametrize("pragma", ['#pragma GCC pch_preprocess "{path}"',
                                    '#pragma GCC dependency "{path}"'])
def test_pragmas_naming_host_files_fail(builder, cache_dir, tmp_path, secret, pragma):
    path = tmp_path / "secret.txt"
    source = pragma.format(path=path) + "\n" + CPP_HEAD + CPP_MAIN
    failed_build(builder, tenant(tmp_path, "pragma", "app.cpp", source))
    assert_nowhere(secret, cache_dir)


def test_has_include_does_not_see_host_files(builder, tmp_path, secret):
    """__has_include is an existence probe whose answer could be served."""
    path = tmp_path / "secret.txt"
    source = (f'#if __has_include("{path}") || __has_include("/etc/passwd")\n'
              f'#error the build sees host files\n#endif\n' + CPP_HEAD + CPP_MAIN)
    builder.build(tenant(tmp_path, "probe", "app.cpp", source))


def test_dependency_output_from_the_environment_writes_nothing(builder, tmp_path, monkeypatch):
    """GCC writes a make dependency file wherever DEPENDENCIES_OUTPUT says:
    the server's environment must not reach the compiler."""
    target = tmp_path / "deps.d"
    monkeypatch.setenv("DEPENDENCIES_OUTPUT", str(target))
    monkeypatch.setenv("SUNPRO_DEPENDENCIES", str(tmp_path / "sunpro.d"))
    builder.build(tenant(tmp_path, "deps", "app.cpp", CPP_HEAD + "// deps\n" + CPP_MAIN))
    assert not target.exists() and not (tmp_path / "sunpro.d").exists()


@pytest.fixture
def planted_module():
    """A Python module at a path made only of identifiers, which a Pythran
    relative import could name: from ....tmp.mtdplantX.leak_mod import ..."""
    root = Path(tempfile.mkdtemp(prefix="mtdplant"))
    if not all(part.isidentifier() for part in root.parts[1:]):
        pytest.skip(f"{root} is not importable by name")
    marker = f"MTD-PLANTED-{os.getpid()}-{time.monotonic_ns()}"
    (root / "leak_mod.py").write_text(f"def leak():\n    return '{marker}'\n")
    yield root, marker.encode()
    for child in root.iterdir():
        child.unlink()
    root.rmdir()


def test_pythran_relative_import_of_a_host_module_fails(builder, cache_dir, tmp_path,
                                                        planted_module):
    root, marker = planted_module
    module = ".".join(root.parts[1:]) + ".leak_mod"
    source = (f"from {'.' * 40}{module} import leak\n\n"
              "def on_client_request():\n    return 'text/plain', leak()\n")
    error = failed_build(builder, tenant(tmp_path, "importer", "app.py", source))
    assert f"Module '{module}' not found" in str(error)
    assert_nowhere(marker, cache_dir)


# -- limits ------------------------------------------------------------------

def test_huge_output_is_stopped(builder, cache_dir, tmp_path):
    source = CPP_HEAD + 'asm(".section .data\\n.fill 100000000, 1, 0x41\\n.text\\n");\n' + CPP_MAIN
    error = failed_build(builder, tenant(tmp_path, "huge", "app.cpp", source))
    assert "64 MiB output limit" in str(error)
    assert all(elf.stat().st_size < 64 << 20 for elf in elves(cache_dir))


def test_diagnostics_flood_is_stopped_at_the_file_limit(builder, tmp_path, monkeypatch):
    monkeypatch.setattr(build_sandbox, "STEP_LIMITS",
                        replace(build_sandbox.STEP_LIMITS, file_bytes=1 << 20))
    source = CPP_HEAD + "".join(f"int f{i}() {{ return undefined_{i}; }}\n" for i in range(40000))
    error = failed_build(builder, tenant(tmp_path, "flood", "app.cpp", source + CPP_MAIN))
    assert "1 MiB output limit" in str(error)


# Four constexpr arrays evaluated at compile time: cc1plus needs ~190 MB
# for each, and several seconds.
MEMORY_HOG = CPP_HEAD + "#include <array>\n" + "".join(
    f"constexpr auto make{i}() {{ std::array<long, 200000> a{{}};\n"
    f"  for (long j = 0; j < 200000; ++j) a[j] = j * {i + 2}; return a; }}\n"
    f"constexpr auto big{i} = make{i}();\n" for i in range(4)) + (
    "int main() { mtd_ready(); return int(" + " + ".join(f"big{i}[7]" for i in range(4))
    + ") & 1; }\n")


def test_compiler_memory_is_limited(builder, tmp_path, monkeypatch):
    monkeypatch.setattr(build_sandbox, "STEP_LIMITS",
                        replace(build_sandbox.STEP_LIMITS, memory_bytes=256 << 20))
    error = failed_build(builder, tenant(tmp_path, "hog", "app.cpp", MEMORY_HOG))
    assert "ran out of memory (the limit is 256 MiB per process)" in str(error)


def sandbox_leftovers() -> list[str]:
    """Build processes still running (the spare Pythran worker aside)."""
    return [p.name() for p in psutil.Process().children(recursive=True)
            if p.name() in ("bwrap", "cc1plus", "riscv64-linux-gnu-g++", "as", "sleep")
            and "pythran_worker" not in " ".join(p.cmdline())]


def test_build_time_is_limited_and_nothing_is_left_running(builder, tmp_path, monkeypatch):
    monkeypatch.setattr(build_module, "BUILD_TIMEOUT_S", 1)
    # Not MEMORY_HOG itself: if the memory limit failed, it would be cached.
    error = failed_build(builder, tenant(tmp_path, "slow", "app.cpp", MEMORY_HOG + "// slow\n"))
    assert "took longer than 1 s and was stopped" in str(error)
    assert sandbox_leftovers() == []


# -- the policy itself, as any code running in the sandbox sees it ------------

def in_sandbox(command: str, scratch: Path, timeout: float = 60, **kwargs) -> tuple[int | None, str]:
    with open(scratch.parent / "out.txt", "w+b") as out:
        code = build_sandbox.run(["/bin/sh", "-c", command], scratch, out, timeout, **kwargs)
        out.seek(0)
        return code, out.read().decode(errors="replace")


@pytest.fixture
def scratch(tmp_path) -> Path:
    (tmp_path / "scratch").mkdir()
    return tmp_path / "scratch"


def test_sandbox_sees_the_toolchain_and_its_scratch_only(scratch, tmp_path, secret):
    repo = Path(sys.prefix).parent  # the checkout that holds .venv, tenants/ ...
    code, out = in_sandbox(
        f"cat /etc/passwd /etc/hostname {tmp_path}/secret.txt {TENANTS}/hello/app.py; "
        "ls /proc/1 /home /sys /run /var; "
        f"echo LISTING; ls -A {repo}; echo ROOT; ls -A /", scratch)
    listing = out.split("LISTING\n")[1].split("ROOT\n")[0].split()
    root = set(out.split("ROOT\n")[1].split())
    assert secret.decode() not in out and "root:" not in out
    assert "No such file or directory" in out
    if Path(sys.prefix).name == ".venv":  # tenants/, cpp/ ... beside the venv are not there
        assert ".venv" in listing and "tenants" not in listing
        assert set(listing) <= {".venv", build_sandbox.ENGINE_DIR.name}
    assert not root & {"etc", "home", "proc", "sys", "run", "var", "boot", "mnt", "srv", "opt"}
    assert {"usr", "dev"} <= root


@pytest.fixture
def escape_name():
    """A file name that sandboxed code tries to create outside its scratch;
    removed wherever it did land, so a failure leaves nothing behind."""
    name = f"mtd-escaped-{os.getpid()}-{time.monotonic_ns()}"
    landed: list[Path] = []
    yield name, landed
    for path in landed:
        if path.exists():
            path.unlink()


def test_sandbox_writes_only_its_scratch(scratch, tmp_path, escape_name):
    name, landed = escape_name
    (tmp_path / "input").mkdir()
    targets = [Path(d) / name for d in ("/usr", tmp_path, tmp_path / "input", sys.prefix,
                                        build_sandbox.ENGINE_DIR, "/")]
    landed += targets
    script = "; ".join(f"echo x > {t} 2>/dev/null && echo WROTE {t}" for t in targets)
    code, out = in_sandbox(script + f"; echo x > {scratch}/made && echo SCRATCH", scratch,
                           inputs=[tmp_path / "input"])
    assert "WROTE" not in out and "SCRATCH" in out
    assert (scratch / "made").read_text() == "x\n"
    assert not any(t.exists() for t in targets)


def test_sandbox_has_no_network(scratch):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.setblocking(False)
    port = listener.getsockname()[1]
    python = build_sandbox.python_executable()
    code, out = in_sandbox(
        f"{python} -I -c \"import socket; socket.create_connection(('127.0.0.1', {port}), 5)\"",
        scratch)
    assert code != 0 and ("Network is unreachable" in out or "Connection refused" in out)
    assert select.select([listener], [], [], 0)[0] == []
    listener.close()


def test_sandbox_environment_is_cleared(scratch, monkeypatch):
    monkeypatch.setenv("MTD_TEST_SECRET_TOKEN", "hunter2")
    code, out = in_sandbox("env", scratch)
    names = {line.split("=", 1)[0] for line in out.splitlines() if "=" in line}
    assert "hunter2" not in out
    assert names <= {"PATH", "HOME", "LANG", "TMPDIR", "PYTHONDONTWRITEBYTECODE",
                     "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "PWD", "SHLVL", "_"}


def test_sandbox_limits_memory_and_file_size(scratch):
    limits = replace(build_sandbox.STEP_LIMITS, memory_bytes=256 << 20, file_bytes=1 << 20)
    python = build_sandbox.python_executable()
    code, out = in_sandbox(f"{python} -I -c 'bytearray(512 << 20)'", scratch, limits=limits)
    assert code != 0 and "MemoryError" in out
    code, out = in_sandbox(f"head -c 2000000 /dev/zero > {scratch}/big", scratch, limits=limits)
    assert code != 0
    assert (scratch / "big").stat().st_size <= 1 << 20


@pytest.mark.skipif(os.geteuid() == 0 and build_sandbox.pids_cgroup_root() is None,
                    reason="root without a pids cgroup to create (the kernel does not apply RLIMIT_NPROC to root)")
def test_sandbox_limits_processes(scratch):
    limits = replace(build_sandbox.STEP_LIMITS, processes=8)
    code, out = in_sandbox("for i in $(seq 20); do sleep 5 & done; wait", scratch,
                           timeout=30, limits=limits)
    assert "fork" in out or "Resource temporarily unavailable" in out


def test_sandbox_timeout_kills_everything(scratch):
    code, out = in_sandbox("sleep 100 & sleep 100 & sleep 100", scratch, timeout=1)
    assert code is None
    assert sandbox_leftovers() == []


# -- a compromised compiler: what the Builder itself lets a tool do -----------

FAKE_CXX = r'''#!/bin/bash
# A compiler that has been taken over: it reports what it can reach.
if [ "$1" = "--version" ]; then echo "fake-g++ (mtd tests) 1"; exit 0; fi
out=; prev=; targets=()
for a in "$@"; do
  [ "$prev" = "-o" ] && out=$a
  [ "$prev" = "-include" ] && targets+=("$a" "$a.gch")
  case "$a" in /*.o) targets+=("$a");; esac
  prev=$a
done
report="fake compiler output"$'\n'
for f in READS; do
  head -c1 "$f" >/dev/null 2>&1 && report+="READ $f"$'\n'
done
for d in WRITE_DIRS; do
  ( : > "$d/ESCAPED" ) 2>/dev/null && report+="WROTE $d"$'\n'
done
for f in "${targets[@]}"; do
  [ -e "$f" ] && ( : >> "$f" ) 2>/dev/null && report+="WROTE $f"$'\n'
done
( exec 3<>/dev/tcp/127.0.0.1/PORT ) 2>/dev/null && report+="CONNECTED"$'\n'
report+="ROOT $(ls -A / | tr '\n' ' ')"$'\n'
if [ "$out" = app.elf ] && [ -n "SYMLINK" ]; then ln -s SYMLINK app.elf; exit 0; fi
printf '%s' "$report" > "$out"
'''


@pytest.fixture
def fake_compiler(tmp_path, monkeypatch, secret, escape_name):
    """Builds with FAKE_CXX in place of riscv64-linux-gnu-g++. Yields a
    function that installs it (optionally leaving app.elf as a symlink to
    a given path) and returns a fresh cache folder, a victim tenant, a
    listener it must not reach, and the files it must not create."""
    name, landed = escape_name
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.setblocking(False)
    cache = tmp_path / "cache"
    victim = tenant(tmp_path / "tenants", "victim", "app.py",
                    f"def on_client_request():\n    return 'text/plain', '{secret.decode()}'\n")
    write_dirs = [victim.directory, cache, tmp_path, Path.home(), build_sandbox.ENGINE_DIR,
                  Path(sys.prefix)]
    landed += [d / name for d in write_dirs]

    def make(symlink: str = "") -> Path:
        folder = tmp_path / "fakecc"
        folder.mkdir(exist_ok=True)
        reads = ["/etc/passwd", str(tmp_path / "secret.txt"), str(victim.source),
                 str(Path.home() / ".bashrc")]
        script = (FAKE_CXX.replace("READS", " ".join(reads))
                  .replace("WRITE_DIRS", " ".join(map(str, write_dirs)))
                  .replace("ESCAPED", name)
                  .replace("PORT", str(listener.getsockname()[1]))
                  .replace("SYMLINK", symlink))
        path = folder / "riscv64-fake-g++"
        path.write_text(script)
        path.chmod(0o755)
        monkeypatch.setattr(build_module, "CXX", str(path))
        return cache

    yield make, victim, listener, [d / name for d in write_dirs]
    listener.close()


@pytest.mark.parametrize("language", ["cpp", "python"])
def test_compromised_compiler_reaches_nothing(fake_compiler, tmp_path, secret, language):
    make, victim, listener, escapes = fake_compiler
    cache = make()
    builder = Builder(cache)
    if language == "cpp":
        spec = tenant(tmp_path / "tenants", "evil", "app.cpp", CPP_HEAD + CPP_MAIN)
    else:
        spec = tenant(tmp_path / "tenants", "evil", "app.py",
                      "def on_client_request():\n    return 'text/plain', 'x'\n")
    report = builder.build(spec).elf.read_text()
    assert report.startswith("fake compiler output")
    assert "READ" not in report and "WROTE" not in report and "CONNECTED" not in report
    assert secret.decode() not in report
    root = set(report.split("ROOT ", 1)[1].split())
    assert not root & {"etc", "home", "proc", "sys", "run", "var"}
    assert not any(p.exists() for p in escapes)
    assert select.select([listener], [], [], 0)[0] == []
    if language == "python":
        # The shared artifacts were built by the compromised compiler too, and
        # the tenant build could not write them (its report would say WROTE).
        gch = list((cache / "pch").glob("*/pythran_pch.hpp.gch"))
        assert gch and "WROTE" not in gch[0].read_text()
    assert_nowhere(secret, cache)


def test_compromised_compiler_cannot_make_the_host_read_through_a_symlink(fake_compiler,
                                                                         tmp_path, secret):
    make, victim, listener, escapes = fake_compiler
    cache = make(symlink=str(tmp_path / "secret.txt"))
    spec = tenant(tmp_path / "tenants", "evil", "app.cpp", CPP_HEAD + CPP_MAIN)
    error = failed_build(Builder(cache), spec)
    assert "app.elf: not a regular file" in str(error)
    assert_nowhere(secret, cache)


# -- when the sandbox is missing ----------------------------------------------

def test_missing_bwrap_fails_the_build_and_says_how_to_fix_it(tmp_path, monkeypatch):
    monkeypatch.setattr(build_sandbox, "BWRAP", str(tmp_path / "no-such-bwrap"))
    monkeypatch.setattr(build_sandbox, "_checked", False)
    spec = tenant(tmp_path, "nobwrap", "app.cpp", CPP_HEAD + "// nobwrap\n" + CPP_MAIN)
    error = failed_build(Builder(tmp_path / "cache"), spec)
    assert "apt-get install bubblewrap" in str(error)
    assert build_sandbox.UNSAFE_ENV in str(error)
    assert elves(tmp_path / "cache") == []


def test_unusable_bwrap_fails_the_build_and_says_why(tmp_path, monkeypatch):
    broken = tmp_path / "bwrap"
    broken.write_text("#!/bin/sh\necho 'bwrap: setting up uid map: Permission denied' >&2\nexit 1\n")
    broken.chmod(0o755)
    monkeypatch.setattr(build_sandbox, "BWRAP", str(broken))
    monkeypatch.setattr(build_sandbox, "_checked", False)
    spec = tenant(tmp_path, "nouserns", "app.cpp", CPP_HEAD + "// nouserns\n" + CPP_MAIN)
    error = failed_build(Builder(tmp_path / "cache"), spec)
    assert "uid map: Permission denied" in str(error) and "user namespaces" in str(error)
    assert elves(tmp_path / "cache") == []


def test_unsafe_opt_out_builds_without_the_sandbox_and_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(build_sandbox, "BWRAP", str(tmp_path / "no-such-bwrap"))
    monkeypatch.setattr(build_sandbox, "_checked", False)
    monkeypatch.setenv(build_sandbox.UNSAFE_ENV, "1")
    spec = tenant(tmp_path, "unsafe", "app.cpp", CPP_HEAD + CPP_MAIN)
    result = Builder(tmp_path / "cache").build(spec)
    assert "built without the build sandbox" in (result.elf.parent / "build.log").read_text()
    monkeypatch.delenv(build_sandbox.UNSAFE_ENV)
    with pytest.raises(BuildError):  # the unsandboxed build is not served from the cache
        Builder(tmp_path / "cache").build(spec)


# -- the build still works, and every failure is a BuildError -----------------

def test_sandboxed_build_serves_and_caches(builder, tmp_path):
    spec = tenant(tmp_path, "fine", "app.py",
                  "def on_client_request():\n    return 'text/plain', 'sandboxed'\n")
    first = builder.build(spec)
    second = builder.build(spec)
    assert not first.cached and second.cached and first.elf == second.elf
    assert stat.S_ISREG(first.elf.lstat().st_mode) and first.elf.stat().st_mode & 0o111
    assert not (first.elf.parent / "scratch").exists()
    from test_differential import run_ours
    code, out = run_ours(first.elf)
    assert code == 0 and b"sandboxed" in out


def test_unexpected_failure_is_a_build_error(builder, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(build_sandbox, "run", broken)
    spec = tenant(tmp_path, "unlucky", "app.cpp", CPP_HEAD + "// unlucky\n" + CPP_MAIN)
    error = failed_build(builder, spec)
    assert "RuntimeError: disk on fire" in str(error)


def test_pythran_worker_answers_its_job_without_more_input(tmp_path):
    """The old worker read stdin through a buffer behind select(): a job
    could wait there until more input arrived. Now it must answer while its
    stdin stays open."""
    (tmp_path / "app.py").write_text("def on_client_request():\n    return 'text/plain', 'w'\n")
    worker = subprocess.Popen([build_sandbox.python_executable(), "-I", str(WORKER)],
                              cwd=tmp_path, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        worker.stdin.write(b'{"argv": ["-e", "app.py", "-o", "app.cpp"]}\n')
        worker.stdin.flush()
        ready, _, _ = select.select([worker.stdout], [], [], 120)
        assert ready, "no answer while stdin stayed open"
        assert worker.stdout.readline() == b'{"code": 0}\n'
        assert (tmp_path / "app.cpp").is_file()
    finally:
        worker.kill()
        worker.wait()


def test_pythran_worker_without_a_job_exits_quietly(tmp_path):
    done = subprocess.run([build_sandbox.python_executable(), "-I", str(WORKER)], cwd=tmp_path,
                          input=b"", capture_output=True, timeout=120)
    assert done.returncode == 0 and done.stdout == b""
