"""Compute benchmark: printed figures, not a timed test.

Run as `.venv/bin/python tests/benchmarks/bench_compute.py` from the repo root
(pytest does not collect it: its default pattern is test_*.py).

Guest kernels of different shapes, sources in tests/benchmarks/compute/:

  mandelbrot.c   floating-point loop
  interp.c       integer and branchy: a small bytecode interpreter
  fib.c          recursion
  hashtable.c    memory-bound: random probes of an 8 MiB hash table
  strings.py     string work through Pythran, built as a tenant

Each runs in every tier:

  native   the same source compiled for this host: the C kernels with
           `gcc -O2`, strings.py as the C++ Pythran generates for the tenant
           build (literal hoisting included) with `g++ -O2` and a small main
           that calls on_client_request(), in place of the guest shim
  interp   mtd's RISC-V interpreter (`mtd._core.run_elf`, in this process):
           the C kernels built with `riscv64-linux-gnu-gcc -O2 -static`,
           strings.py by mtd's own tenant build, run as a plain process
           (the shim then answers one GET / on stdout)

and the kernels' outputs must agree across tiers. Rounds are interleaved
(each round runs every kernel in every tier) and each figure is the median
over the rounds; times are wall time of one whole run, ELF load and process
start included (a native process start is ~1 ms here), so the native runs
are sized to tens of milliseconds. Ratios are to native; the last line is
their geometric mean.

A tier is one entry of TIERS (a name and a function from a Kernel to one
timed Run); a later one (e.g. "translated", when mtd has that tier) is added
there and chosen with --tiers.
"""
from __future__ import annotations

import argparse
import math
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[2]
KERNELS_DIR = ROOT / "tests" / "benchmarks" / "compute"
GUEST = ROOT / "engine" / "guest"
RISCV_CC = "riscv64-linux-gnu-gcc"


@dataclass
class Kernel:
    name: str
    shape: str
    source: Path
    args: list[str] = field(default_factory=list)  # the size, for the C kernels
    native: Path | None = None  # built host executable
    elf: Path | None = None     # built RISC-V ELF


@dataclass
class Run:
    seconds: float
    output: bytes
    instructions: int | None = None


KERNELS = [
    Kernel("mandelbrot", "floating point", KERNELS_DIR / "mandelbrot.c", ["400"]),
    Kernel("interp", "integer, branchy", KERNELS_DIR / "interp.c", ["8000"]),
    Kernel("fib", "recursion", KERNELS_DIR / "fib.c", ["35"]),
    Kernel("hashtable", "memory-bound", KERNELS_DIR / "hashtable.c", ["20"]),
    Kernel("strings", "strings (Pythran)", KERNELS_DIR / "strings.py"),
]


# ---- building

def build_c(kernel: Kernel, work: Path) -> None:
    kernel.native = work / f"{kernel.name}.native"
    kernel.elf = work / f"{kernel.name}.rv64"
    subprocess.run(["gcc", "-O2", "-o", str(kernel.native), str(kernel.source)], check=True)
    subprocess.run([RISCV_CC, "-O2", "-static", "-o", str(kernel.elf), str(kernel.source)],
                   check=True)


NATIVE_MAIN = """\
// strings.py's generated C++ run natively: what the guest shim does, minus mtd.
#include "pythran_literals.hpp"
#include "app.cpp"
#include "pythran_literal_id.hpp"
#include <cstdio>
#include <tuple>
int main() {
  auto result = __pythran_app::on_client_request()();
  auto const &body = std::get<1>(result).chars();
  std::printf("200 text/plain\\n\\n");
  std::fwrite(body.data(), 1, body.size(), stdout);
  return 0;
}
"""


def build_python(kernel: Kernel, work: Path) -> None:
    import pythran
    from mtd.engine import Builder
    from mtd.engine.tenants import load_tenant
    tenant = work / "tenants" / kernel.name
    tenant.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(kernel.source, tenant / "app.py")
    result = Builder(work / "tenant-cache").build(load_tenant(tenant))
    kernel.elf = result.elf
    native_dir = work / f"{kernel.name}-native"
    native_dir.mkdir(exist_ok=True)
    shutil.copyfile(result.elf.parent / "app.cpp", native_dir / "app.cpp")  # as the build made it
    (native_dir / "main.cpp").write_text(NATIVE_MAIN)
    kernel.native = work / f"{kernel.name}.native"
    subprocess.run(["g++", "-std=c++17", "-O2", "-w", "-DMTD_HANDLER_ARGS=0",
                    f"-I{Path(pythran.__file__).parent}", f"-I{GUEST}", f"-I{native_dir}",
                    str(native_dir / "main.cpp"), "-o", str(kernel.native)], check=True)


def build(kernel: Kernel, work: Path) -> None:
    (build_python if kernel.source.suffix == ".py" else build_c)(kernel, work)


# ---- tiers

def run_native(kernel: Kernel) -> Run:
    t0 = time.perf_counter()
    out = subprocess.run([str(kernel.native), *kernel.args], check=True, capture_output=True)
    return Run(time.perf_counter() - t0, out.stdout)


def run_interp(kernel: Kernel) -> Run:
    from mtd import _core
    elf = kernel.elf.read_bytes()
    t0 = time.perf_counter()
    r = _core.run_elf(elf, [kernel.name, *kernel.args], max_instructions=200_000_000_000,
                      max_memory=1 << 30)
    seconds = time.perf_counter() - t0
    if r["outcome"] != "exited" or r["exit_code"] != 0:
        sys.exit(f"{kernel.name}: {r['outcome']} {r['reason']} (exit {r['exit_code']})")
    return Run(seconds, r["stdout"], r["instructions"])


# Per kernel: its translation (a shared object), how long it took and how
# big it is; made on first use from a profiled run.
TRANSLATIONS: dict[str, tuple[Path, float, int, int]] = {}
TRANSLATE_MIN_RUNS = 2  # blocks entered at least twice: the loops, not the start-up


def translation(kernel: Kernel) -> Path:
    if kernel.name not in TRANSLATIONS:
        from mtd import _core
        from mtd.engine.translate import compile_translation
        profiled = _core.run_elf(kernel.elf.read_bytes(), [kernel.name, *kernel.args],
                                 max_instructions=200_000_000_000, max_memory=1 << 30,
                                 emit_translation=True, min_runs=TRANSLATE_MIN_RUNS)
        source = profiled["translation_source"]
        compiled = compile_translation(source, ROOT / "build" / "bench-compute" / "cache")
        TRANSLATIONS[kernel.name] = (compiled.path, compiled.seconds,
                                     compiled.path.stat().st_size, source.count("\nB"))
    return TRANSLATIONS[kernel.name][0]


def run_translated(kernel: Kernel) -> Run:
    from mtd import _core
    elf, so = kernel.elf.read_bytes(), str(translation(kernel))
    t0 = time.perf_counter()
    r = _core.run_elf(elf, [kernel.name, *kernel.args], max_instructions=200_000_000_000,
                      max_memory=1 << 30, translation=so)
    seconds = time.perf_counter() - t0
    if r["outcome"] != "exited" or r["exit_code"] != 0:
        sys.exit(f"{kernel.name}: {r['outcome']} {r['reason']} (exit {r['exit_code']})")
    return Run(seconds, r["stdout"], r["instructions"])


TIERS: dict[str, tuple[str, Callable[[Kernel], Run]]] = {
    "native": ("native (host gcc/g++ -O2)", run_native),
    "interp": ("mtd interpreter", run_interp),
    "translated": ("mtd translated (second tier: blocks run twice or more in a profiled run)",
                   run_translated),
}


# ---- the report

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds (median)")
    ap.add_argument("--tiers", default="native,interp,translated",
                    help=f"comma-separated, the first is the baseline; known: {', '.join(TIERS)}")
    ap.add_argument("--kernels", default=",".join(k.name for k in KERNELS))
    ap.add_argument("--work", type=Path, default=ROOT / "build" / "bench-compute",
                    help="scratch directory")
    args = ap.parse_args()
    tiers = args.tiers.split(",")
    unknown = [t for t in tiers if t not in TIERS]
    if unknown:
        sys.exit(f"unknown tier(s) {', '.join(unknown)}; this build has {', '.join(TIERS)}")
    kernels = [k for k in KERNELS if k.name in args.kernels.split(",")]
    args.work.mkdir(parents=True, exist_ok=True)
    for kernel in kernels:
        build(kernel, args.work)
        if "translated" in tiers:
            translation(kernel)  # before the clock starts

    runs: dict[tuple[str, str], list[Run]] = {(k.name, t): [] for k in kernels for t in tiers}
    for r in range(args.rounds):
        for kernel in kernels:
            order = tiers if r % 2 == 0 else tiers[::-1]  # neither tier always first
            for tier in order:
                runs[kernel.name, tier].append(TIERS[tier][1](kernel))
    for kernel in kernels:
        outputs = {t: runs[kernel.name, t][0].output for t in tiers}
        if len(set(outputs.values())) != 1:
            sys.exit(f"{kernel.name}: the tiers disagree: {outputs}")

    load = os.getloadavg()
    print(f"bench_compute: {args.rounds} interleaved rounds, median wall time per run; "
          f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; {os.cpu_count()} CPUs")
    base = tiers[0]
    header = f"{'kernel':<11} {'shape':<18} {'guest instr':>12}"
    for t in tiers:
        header += f" {t:>10}" + ("" if t == base else f" {'x ' + base:>10}")
    print(header)
    ratios: dict[str, list[float]] = {t: [] for t in tiers[1:]}
    for kernel in kernels:
        med = {t: statistics.median(run.seconds for run in runs[kernel.name, t]) for t in tiers}
        instr = next((run.instructions for t in tiers for run in runs[kernel.name, t]
                      if run.instructions), None)
        line = f"{kernel.name:<11} {kernel.shape:<18} {instr or 0:>12,}"
        for t in tiers:
            line += f" {med[t] * 1e3:>8.1f}ms"
            if t != base:
                ratio = med[t] / med[base]
                ratios[t].append(ratio)
                line += f" {ratio:>9.1f}x"
        print(line)
    line = f"{'geomean':<11} {'':<18} {'':>12} {'':>10}"
    for t in tiers[1:]:
        line += f" {'':>10} {math.exp(statistics.fmean(map(math.log, ratios[t]))):>9.1f}x"
    print(line)
    for t in tiers:
        print(f"  {t}: {TIERS[t][0]}")
    for name, (so, seconds, size, instructions) in TRANSLATIONS.items():
        print(f"  {name} translated: {instructions:,} guest instructions emitted (copies included), compiled in {seconds:.1f} s, "
              f"{size / 1024:,.0f} KiB of shared object")
    for kernel in kernels:
        print(f"  {kernel.name}: {' '.join(kernel.args) or '(size in the source)'} -> "
              f"{runs[kernel.name, base][0].output.decode(errors='replace').strip().splitlines()[-1]}")


if __name__ == "__main__":  # the tenant build uses multiprocessing (forkserver)
    main()
