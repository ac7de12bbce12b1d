"""Shared fixtures: a build cache for the whole run, the fixture tenants
(tests/fixture_tenants, copies of the bundled ones) built,
and an engine serving them on a free port."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from mtd.engine import Builder, Engine, EngineConfig, discover_tenants

REPO = Path(__file__).resolve().parent.parent
# The tests' own copies of the bundled tenants: tenants/ is the user's to
# edit (the README invites it), so no test reads it.
TENANTS = Path(__file__).resolve().parent / "fixture_tenants"
# What the fixture hello tenant serves (and /_mtd/vanilla, engine/vanilla.py).
SEED_PAGE = b"\tthis is a very\n\tlong string if I had the\n\tenergy to type more and more ...\n"


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("build-cache")


@pytest.fixture(scope="session")
def builder(cache_dir) -> Builder:
    return Builder(cache_dir)


@pytest.fixture(scope="session")
def bundled_elves(builder) -> dict[str, Path]:
    """The fixture tenants built once per test run: name -> ELF path."""
    specs, problems = discover_tenants(TENANTS)
    assert not problems
    return {spec.name: builder.build(spec).elf for spec in specs}


GUEST_PROGRAMS = Path(__file__).resolve().parent / "guest_programs"


@pytest.fixture(scope="session")
def compiled_programs(tmp_path_factory) -> dict[str, Path]:
    """The corpus in guest_programs/, cross-compiled once per run."""
    out = tmp_path_factory.mktemp("guest-programs")
    elves = {}
    for source in sorted(GUEST_PROGRAMS.iterdir()):
        compiler = "riscv64-linux-gnu-g++" if source.suffix == ".cpp" else "riscv64-linux-gnu-gcc"
        elf = out / f"{source.stem}.elf"
        subprocess.run([compiler, "-O2", "-static", str(source), "-o", str(elf), "-lm"],
                       check=True, capture_output=True, timeout=300)
        elves[source.stem] = elf
    return elves


GUEST_HEADERS = REPO / "engine" / "guest"


def compile_guest(out_dir: Path, name: str, source: str, cpp: bool = False) -> bytes:
    """Cross-compiles one guest source (C, or C++ with cpp=True) against the
    tenant ABI headers into a static ELF; returns its bytes."""
    suffix, compiler = (".cpp", "riscv64-linux-gnu-g++") if cpp else (".c", "riscv64-linux-gnu-gcc")
    src, elf = out_dir / f"{name}{suffix}", out_dir / f"{name}.elf"
    src.write_text(source)
    subprocess.run([compiler, "-O2", "-static", f"-I{GUEST_HEADERS}", str(src), "-o", str(elf)],
                   check=True, capture_output=True, timeout=300)
    return elf.read_bytes()


@pytest.fixture
def qemu() -> str:
    path = shutil.which("qemu-riscv64")
    if path is None:
        pytest.skip("qemu-riscv64 not installed (Debian package qemu-user)")
    return path


def make_engine(tenants_dir: Path, cache_dir: Path, **overrides) -> Engine:
    # No background translation and no quick builds unless a test asks
    # (test_tiers.py, test_quick_builds.py do): a second compile per tenant
    # would only slow the suite down, and each version serves one build.
    config = EngineConfig(port=0, threads=2, tenants_dir=tenants_dir, cache_dir=cache_dir,
                          admin_port=0, translate=False, quick_builds=False)
    for key, value in overrides.items():
        setattr(config, key, value)
    return Engine(config)


@pytest.fixture(scope="module")
def engine(tmp_path_factory, bundled_elves, cache_dir):
    """An engine serving the fixture tenants on a free loopback port."""
    engine = make_engine(TENANTS, cache_dir)
    engine.start()
    yield engine
    engine.stop()


@pytest.fixture
def client(engine):
    with httpx.Client(base_url=f"http://127.0.0.1:{engine.port}", timeout=10) as c:
        yield c
