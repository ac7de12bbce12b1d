"""Many-tenant memory benchmark: printed figures, not a timed test.

Run as `.venv/bin/python tests/benchmarks/bench_tenants.py [-n 1000]` from the
repo root. pytest does not collect it (its default pattern is test_*.py).

Builds N distinct hello-sized tenants (the bundled hello with a different
page string each; the Builder cache in ~/.cache/mtd makes reruns quick),
then, in a fresh process, loads them all into one embedded server
(mtd._core.Server) and prints:
  - RSS before and after loading, and RSS per tenant;
  - load time (total and per tenant);
  - first-request latency through HTTP: median over the tenants of the first
    request each tenant serves, against the same figure for processes that
    load a single tenant (median over a few such processes).

Building takes ~2-4 s per tenant on 2 cores. `--distinct M` builds only M
variants and loads them round-robin as N tenants: loads share nothing (each
has its own file copy, decoder cache and master), so the memory figures are
those of N distinct tenants.
"""
from __future__ import annotations

import argparse
import http.client
import json
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HELLO = ROOT / "tenants" / "hello" / "app.py"


def build_tenants(n: int, cache: Path, jobs: int) -> list[Path]:
    """N hello variants -> their ELF paths (cached builds are instant)."""
    from mtd.engine import Builder
    from mtd.engine.tenants import load_tenant

    builder = Builder(cache)
    source = HELLO.read_text()
    work = Path(tempfile.mkdtemp(prefix="bench-tenants-"))

    def one(i: int) -> Path:
        folder = work / f"t{i:04d}"
        folder.mkdir()
        # A different page per tenant, so no two ELFs are alike.
        (folder / "app.py").write_text(
            source.replace('page = """', f'page = """tenant {i} says hello\n', 1))
        return Path(builder.build(load_tenant(folder)).elf)

    elves: list[Path] = []
    t0 = time.monotonic()
    with ThreadPoolExecutor(jobs) as pool:
        for i, elf in enumerate(pool.map(one, range(n)), 1):
            elves.append(elf)
            if i % 50 == 0 or i == n:
                print(f"  built {i}/{n} ({time.monotonic() - t0:.0f} s)", file=sys.stderr, flush=True)
    return elves


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def first_requests(port: int, hosts: list[str]) -> list[float]:
    """Latency (s) of one request per host over one keep-alive connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/_warm", headers={"Host": "nobody.invalid"})  # connect, warm the worker
    conn.getresponse().read()
    out = []
    for host in hosts:
        t0 = time.perf_counter()
        conn.request("GET", "/", headers={"Host": host})
        resp = conn.getresponse()
        body = resp.read()
        out.append(time.perf_counter() - t0)
        if resp.status != 200 or b"hello" not in body:
            raise RuntimeError(f"{host}: {resp.status} {body[:80]!r}")
    conn.close()
    return out


def measure(elves: list[str], threads: int) -> dict:
    """Runs in a fresh process: load every ELF, then one request per tenant."""
    from mtd import _core

    server = _core.Server("127.0.0.1", 0, threads)
    server.start()
    limits = _core.Limits()
    rss0 = rss_bytes()
    load_s = 0.0
    for i, elf in enumerate(elves):
        image = Path(elf).read_bytes()  # (as the engine does; not kept)
        t0 = time.perf_counter()
        server.load_tenant(f"t{i:04d}", image, [f"t{i:04d}.localhost"], limits, False)
        load_s += time.perf_counter() - t0
    del image
    rss1 = rss_bytes()
    lat = first_requests(server.port, [f"t{i:04d}.localhost" for i in range(len(elves))])
    rss2 = rss_bytes()
    server.stop()
    return {"rss_before": rss0, "rss_loaded": rss1, "rss_served": rss2, "load_s": load_s,
            "first_ms": [x * 1e3 for x in lat]}


def in_child(elves: list[Path], threads: int) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", str(threads)],
                         input=json.dumps([str(e) for e in elves]), capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=1000, help="tenants (default 1000)")
    ap.add_argument("--distinct", type=int, help="distinct builds, loaded round-robin (default: n)")
    ap.add_argument("--jobs", type=int, default=2, help="parallel builds (default 2)")
    ap.add_argument("--threads", type=int, default=2, help="server worker threads (default 2)")
    ap.add_argument("--single-runs", type=int, default=5,
                    help="one-tenant processes for the baseline latency (default 5)")
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "mtd")
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child is not None:
        print(json.dumps(measure(json.loads(sys.stdin.read()), args.child)))
        return

    distinct = min(args.distinct or args.n, args.n)
    print(f"building {distinct} tenants ...", file=sys.stderr, flush=True)
    built = build_tenants(distinct, args.cache, args.jobs)
    elves = [built[i % distinct] for i in range(args.n)]
    print(f"loading {args.n} tenants into one process ...", file=sys.stderr, flush=True)
    many = in_child(elves, args.threads)
    single = [in_child(elves[i:i + 1], args.threads) for i in range(args.single_runs)]

    mib = 1 << 20
    grown = many["rss_loaded"] - many["rss_before"]
    single_grown = statistics.median(s["rss_loaded"] - s["rss_before"] for s in single)
    single_first = statistics.median(s["first_ms"][0] for s in single)
    print(f"tenants:                 {args.n} ({distinct} distinct hello variants, "
          f"{args.threads} worker threads)")
    print(f"RSS before loading:      {many['rss_before'] / mib:8.1f} MiB")
    print(f"RSS after loading:       {many['rss_loaded'] / mib:8.1f} MiB")
    print(f"RSS after 1 request each:{many['rss_served'] / mib:8.1f} MiB")
    print(f"RSS per tenant (load):   {grown / args.n / 1024:8.1f} KiB "
          f"(single-tenant process: {single_grown / 1024:.1f} KiB)")
    print(f"RSS per tenant (served): {(many['rss_served'] - many['rss_before']) / args.n / 1024:8.1f} KiB")
    print(f"load time:               {many['load_s']:8.2f} s ({many['load_s'] / args.n * 1e3:.2f} ms/tenant)")
    print(f"first request, median:   {statistics.median(many['first_ms']):8.3f} ms over {args.n} tenants "
          f"(p90 {statistics.quantiles(many['first_ms'], n=10)[-1] if args.n > 1 else 0:.3f} ms)")
    print(f"first request, 1 tenant: {single_first:8.3f} ms (median of {args.single_runs} processes)")


if __name__ == "__main__":
    main()
