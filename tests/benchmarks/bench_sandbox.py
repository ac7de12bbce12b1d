"""Sandbox benchmark: printed figures, not a timed test.

Run as `.venv/bin/python tests/benchmarks/bench_sandbox.py` from the repo root.
pytest does not collect it (its default pattern is test_*.py).

(a) per-request sandbox cost of the bundled hello tenant (fork + handler +
    teardown, one thread): median and p99 ns over >= 1M requests, guest
    instructions and bytes copied per request, from `mtd-run --tenant`; the
    medians again with the caches, then the TLB too, cold as in a server,
    and the same three for answer_at_once.c, the sandbox's floor;
(b) interpreter speed on tests/guest_programs/compute.c (fib(30) +
    mandelbrot) against the same source compiled natively and run under
    qemu-riscv64: interleaved runs, median of 3.

The machine is shared and noisy: figures are medians, and the ratios in (b)
come from runs interleaved with each other.
"""
from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / "build" / "tools"
COMPUTE = ROOT / "tests" / "guest_programs" / "compute.c"
FLOOR = ROOT / "tests" / "benchmarks" / "answer_at_once.c"


def build_mtd_run() -> Path:
    """cmake -DMTD_TOOLS=ON into build/tools; incremental, so reused when up to date."""
    if not (TOOLS / "CMakeCache.txt").exists():
        subprocess.run(["cmake", "-S", str(ROOT), "-B", str(TOOLS), "-DMTD_TOOLS=ON",
                        "-DCMAKE_BUILD_TYPE=Release"], check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["cmake", "--build", str(TOOLS), "-j2", "--target", "mtd-run"], check=True,
                   stdout=subprocess.DEVNULL)
    return TOOLS / "mtd-run"


def build_hello(cache: Path) -> Path:
    from mtd.engine import Builder
    from mtd.engine.tenants import load_tenant
    return Path(Builder(cache).build(load_tenant(ROOT / "tenants" / "hello")).elf)


# Written over between requests in the cache-cold figure: about what a
# server's kernel and event loop touch between two requests of a worker.
COLD_KIB = 1024
# Called into between requests in the TLB-cold figure as well: more pages of
# code than this machine's instruction TLB holds (512 entries), as the
# kernel's and the event loop's code do in a server.
COLD_CODE_PAGES = 1024


def build_floor(work: Path) -> Path:
    elf = work / "answer_at_once.elf"
    subprocess.run(["riscv64-linux-gnu-gcc", "-O2", "-static", "-nostdlib", "-ffreestanding",
                    f"-I{ROOT / 'engine' / 'guest'}", "-o", str(elf), str(FLOOR)], check=True)
    return elf


def bench_requests(mtd_run: Path, elf: Path, requests: int, cold_kib: int = 0,
                   cold_code_pages: int = 0) -> dict[str, int]:
    out = subprocess.run([str(mtd_run), "--tenant", str(elf), "--requests", str(requests), "--cold", str(cold_kib),
                          "--cold-code", str(cold_code_pages)],
                         check=True, capture_output=True, text=True)
    m = re.search(r"\[(\d+) requests: median (\d+) ns, p99 (\d+) ns, min (\d+) ns; (\d+) "
                  r"instructions/request, (\d+) bytes copied/request, (\d+) bytes charged", out.stderr)
    if not m:
        sys.exit(f"unexpected mtd-run output:\n{out.stderr}")
    keys = ["requests", "median", "p99", "min", "instructions", "copied", "charged"]
    return dict(zip(keys, map(int, m.groups())))


def timed(argv: list[str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    out = subprocess.run(argv, check=True, capture_output=True, text=True)
    return time.perf_counter() - t0, out.stdout + out.stderr


def bench_compute(mtd_run: Path, work: Path, rounds: int) -> None:
    rv_elf, native = work / "compute.rv64", work / "compute.x86_64"
    subprocess.run(["riscv64-linux-gnu-gcc", "-O2", "-static", "-o", str(rv_elf), str(COMPUTE)], check=True)
    subprocess.run(["gcc", "-O2", "-o", str(native), str(COMPUTE)], check=True)
    qemu = shutil.which("qemu-riscv64")
    walls: dict[str, list[float]] = {"native": [], "qemu": [], "mtd": []}
    instructions = 0
    for _ in range(rounds):  # interleaved so each round sees the same machine load
        walls["native"].append(timed([str(native), "fib30"])[0])
        if qemu:
            walls["qemu"].append(timed([qemu, str(rv_elf), "fib30"])[0])
        wall, text = timed([str(mtd_run), "--stats", str(rv_elf), "fib30"])
        walls["mtd"].append(wall)
        instructions = int(re.search(r"(\d+) instructions", text).group(1))
    med = {k: statistics.median(v) for k, v in walls.items() if v}
    print(f"(b) compute.c fib(30) + mandelbrot, median of {rounds} interleaved runs (process wall time):")
    print(f"    guest instructions                 {instructions:,}")
    print(f"    native x86-64 (gcc -O2)            {med['native'] * 1e3:8.1f} ms")
    if "qemu" in med:
        print(f"    qemu-riscv64                       {med['qemu'] * 1e3:8.1f} ms")
    print(f"    mtd interpreter (mtd-run)          {med['mtd'] * 1e3:8.1f} ms"
          f"   = {instructions / med['mtd'] / 1e6:,.0f} M guest instructions/s (incl. ELF load + decode)")
    print(f"    mtd wall time / native             {med['mtd'] / med['native']:8.1f}x")
    if "qemu" in med:
        print(f"    mtd wall time / qemu-riscv64       {med['mtd'] / med['qemu']:8.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=1_000_000, help="hello requests (>= 1M for the headline)")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved compute rounds")
    ap.add_argument("--work", type=Path, default=ROOT / "build" / "bench", help="scratch directory")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)

    mtd_run = build_mtd_run()
    elf = build_hello(args.work / "tenant-cache")
    r = bench_requests(mtd_run, elf, args.requests)
    print(f"(a) hello tenant, per-request sandbox cost (fork + handler + teardown), one thread, "
          f"{r['requests']:,} requests:")
    print(f"    median                             {r['median']:8,} ns")
    print(f"    p99                                {r['p99']:8,} ns")
    print(f"    min                                {r['min']:8,} ns")
    print(f"    guest instructions per request     {r['instructions']:8,}")
    print(f"    bytes copied per request           {r['copied']:8,} (pages copied on write)")
    print(f"    bytes charged to memory limit      {r['charged']:8,} (pages + leaves the request changed)")
    cold = bench_requests(mtd_run, elf, args.requests, COLD_KIB)
    print(f"    median, cache-cold                 {cold['median']:8,} ns ({COLD_KIB:,} KiB of other memory "
          f"written between requests, as in a server)")
    tlb_cold = bench_requests(mtd_run, elf, args.requests, COLD_KIB, COLD_CODE_PAGES)
    print(f"    median, cache- and TLB-cold        {tlb_cold['median']:8,} ns (and {COLD_CODE_PAGES:,} pages of other "
          f"code run between requests)")
    floor = build_floor(args.work)
    medians = [bench_requests(mtd_run, floor, args.requests, *mode)["median"]
               for mode in [(0, 0), (COLD_KIB, 0), (COLD_KIB, COLD_CODE_PAGES)]]
    print(f"    the floor, {FLOOR.name}: fork, one respond ecall, teardown (medians: warm / cache-cold / "
          f"cache- and TLB-cold)")
    print(f"                                       {' / '.join(f'{m:,}' for m in medians)} ns")
    bench_compute(mtd_run, args.work, args.rounds)


if __name__ == "__main__":  # the tenant build uses multiprocessing (forkserver)
    main()
