"""HTTP benchmark: sandboxed hello against /_mtd/vanilla in one server process.

Run as `.venv/bin/python tests/benchmarks/bench_http.py` from the repo root
(`--quick` for a short development run, `--markdown` for the README block).
pytest does not collect it (its default pattern is test_*.py).

One headless server (`mtd-console --no-tui`, bundled tenants/, a free port)
serves both paths. In each round every load configuration runs once against
`/` (the hello tenant, sandboxed) and once against `/_mtd/vanilla` (the same
page served natively), alternating which goes first, so both see the same
machine noise:

  - wrk -t1 -c8 -d10s --latency
  - wrk -t2 -c16 -d10s --latency
  - the built-in generator (mtd._core.LoadGenerator, 2 threads x 16 connections)

Each run records req/s, p50/p99 latency, and the server process's CPU time
(user + system, from psutil) divided by the requests it answered: the server
CPU per request, which on a 2-core machine shared with the load generator is
the fairer figure (req/s also measures how often threads sleep). Hello minus
vanilla CPU per request is the sandbox's real overhead per request. The
server's own mean time inside the sandbox comes from its /stats counters.
Separately, bench_sandbox.py's per-request sandbox cost (fork + handler +
teardown in `mtd-run`, median and p99 over 1M requests) is measured before
the server starts.

The summary shows medians across rounds, the sandboxed/vanilla ratios, and
each target of issue #8 with PASS or MISS. The machine is shared and noisy:
compare only ratios measured in one run.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))

VANILLA_PATH = "/_mtd/vanilla"
KINDS = ("hello", "vanilla")
# name -> (wrk threads, connections); "builtin" is the built-in generator.
WRK_CONFIGS = {"wrk -t1 -c8": (1, 8), "wrk -t2 -c16": (2, 16)}
BUILTIN = "builtin -t2 -c16"
BUILTIN_LOAD = (2, 16)

# Issue #8's targets.
TARGET_RPS_RATIO = 0.95
TARGET_P99_RATIO = 1.2
TARGET_SANDBOX_NS = 1000
TARGET_RSS_1000 = 1 << 30


# --- the server --------------------------------------------------------------------------

class Server:
    """`mtd-console --no-tui` in its own process: free tenant port, free admin port."""

    def __init__(self, threads: int, cache_dir: Path | None):
        # --no-quick-build: measure the optimised builds, not a swap midway.
        argv = [sys.executable, "-m", "mtd.tui.main", "--no-tui", "--no-watch", "--no-quick-build", "--port", "0",
                "--admin-port", "0", "--tenants", str(ROOT / "tenants")]
        if threads:
            argv += ["--threads", str(threads)]
        if cache_dir:
            argv += ["--cache-dir", str(cache_dir)]
        self.argv = argv
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     cwd=ROOT)
        self.lines: list[str] = []
        self.port = self.admin_port = 0
        deadline = time.monotonic() + 300  # a cold tenant build takes a while
        while not self.port or not self.admin_port:
            line = self.proc.stdout.readline()
            if not line:
                sys.exit("bench_http: the server exited while starting:\n" + "".join(self.lines))
            self.lines.append(line)
            if m := re.search(r"serving on http://[^:]+:(\d+)/", line):
                self.port = int(m.group(1))
            if m := re.search(r"admin on http://127\.0\.0\.1:(\d+)/", line):
                self.admin_port = int(m.group(1))
            if time.monotonic() > deadline:
                self.stop()
                sys.exit("bench_http: the server did not start in time")
        # Keep reading its stats lines so the pipe never fills.
        threading.Thread(target=self._drain, daemon=True).start()
        self.ps = psutil.Process(self.proc.pid)
        self.url = f"http://127.0.0.1:{self.port}"

    def _drain(self) -> None:
        for line in self.proc.stdout:
            if "error" in line:
                self.lines.append(line)

    def cpu_s(self) -> float:
        t = self.ps.cpu_times()
        return t.user + t.system

    def rss(self) -> int:
        return self.ps.memory_info().rss

    def hello_counters(self) -> tuple[int, int]:
        """(requests, total ns inside the sandbox) of the hello tenant, from /stats."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.admin_port}/stats", timeout=5) as r:
            data = json.load(r)
        for t in data if isinstance(data, list) else data.get("tenants", []):
            if t.get("name") == "hello":
                return t["requests"], t["sandbox_ns"]
        return 0, 0

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


# --- load generators ---------------------------------------------------------------------

_UNITS = {"us": 1.0, "ms": 1e3, "s": 1e6}


def _us(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    return float(m.group(1)) * _UNITS[m.group(2)]


def parse_wrk(out: str) -> dict:
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    pct = {p: _us(v) for p, v in re.findall(r"^\s+(50|75|90|99)%\s+(\S+)", out, re.M)}
    errors = 0
    if m := re.search(r"Non-2xx or 3xx responses: (\d+)", out):
        errors += int(m.group(1))
    if m := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out):
        errors += sum(map(int, m.groups()))
    return {"rps": rps, "requests": requests, "p50_us": pct["50"], "p99_us": pct["99"], "errors": errors}


def run_wrk(url: str, threads: int, connections: int, duration: float) -> tuple[dict, str, str]:
    argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration:g}s", "--latency", url]
    out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
    return parse_wrk(out), out, " ".join(argv[:-1] + [url])


def run_builtin(port: int, path: str, threads: int, connections: int, duration: float) -> dict:
    from mtd import _core
    gen = _core.LoadGenerator(address="127.0.0.1", port=port, path=path, threads=threads,
                              connections=connections, duration=duration)
    gen.start()
    r = gen.wait()
    failed = sum(r["errors"].values()) + sum(v for k, v in r["status"].items() if k != "2xx")
    return {"rps": r["rps"], "requests": r["requests"], "p50_us": r["latency"]["p50_us"],
            "p99_us": r["latency"]["p99_us"], "errors": failed}


# --- the run -----------------------------------------------------------------------------

def measure(server: Server, config: str, kind: str, duration: float) -> tuple[dict, str | None]:
    path = "/" if kind == "hello" else VANILLA_PATH
    before_req, before_ns = server.hello_counters() if kind == "hello" else (0, 0)
    load = os.getloadavg()[0]
    cpu0 = server.cpu_s()
    raw = None
    if config in WRK_CONFIGS:
        t, c = WRK_CONFIGS[config]
        r, out, cmd = run_wrk(server.url + path, t, c, duration)
        raw = f"$ {cmd}\n{out.rstrip()}"
    else:
        r = run_builtin(server.port, path, *BUILTIN_LOAD, duration)
    cpu = server.cpu_s() - cpu0
    r["cpu_us_per_req"] = cpu / r["requests"] * 1e6 if r["requests"] else float("nan")
    if kind == "hello":
        after_req, after_ns = server.hello_counters()
        n = after_req - before_req
        r["sandbox_ns_mean"] = (after_ns - before_ns) / n if n else float("nan")
    r["rss"] = server.rss()
    r["loadavg_before"] = load
    return r, raw


def sandbox_cost(requests: int) -> dict | None:
    """bench_sandbox.py's figure: mtd-run --tenant hello.elf --requests N."""
    import bench_sandbox
    try:
        work = ROOT / "build" / "bench"
        work.mkdir(parents=True, exist_ok=True)
        mtd_run = bench_sandbox.build_mtd_run()
        elf = bench_sandbox.build_hello(work / "tenant-cache")
        cost = bench_sandbox.bench_requests(mtd_run, elf, requests)
        cost["cold_kib"] = bench_sandbox.COLD_KIB
        cost["cold_median"] = bench_sandbox.bench_requests(mtd_run, elf, requests, cost["cold_kib"])["median"]
        return cost
    except (subprocess.CalledProcessError, OSError) as e:
        print(f"bench_http: per-request sandbox cost not measured: {e}", file=sys.stderr)
        return None


def machine() -> dict:
    model = platform.processor()
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
            if line.startswith("Hypervisor vendor:"):
                model += f" ({line.split(':', 1)[1].strip()} guest)"
    except OSError:
        pass
    os_name = platform.platform()
    try:
        os_name = platform.freedesktop_os_release().get("PRETTY_NAME", os_name)
    except OSError:
        pass
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True)
    wrk_version = " ".join((wrk.stdout + wrk.stderr).split()[:2])  # "wrk debian/4.1.0-3+b2"
    h2o = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "libh2o-evloop-dev"], capture_output=True,
                         text=True)
    return {"cpu": model, "cores": os.cpu_count(), "memory_gib": round(psutil.virtual_memory().total / 2**30),
            "os": os_name, "kernel": platform.release(), "wrk": wrk_version,
            "h2o": h2o.stdout.strip() or "?"}


def fmt_us(us: float) -> str:
    """Latency the way wrk prints it: µs below a millisecond, ms above."""
    return f"{us:.0f} µs" if us < 1000 else f"{us / 1000:.2f} ms"


def med(runs: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def summarize(results: dict) -> dict:
    """Medians across rounds per config and kind, plus ratios."""
    out = {}
    for config, kinds in results.items():
        h, v = kinds["hello"], kinds["vanilla"]
        row = {k: {key: med(runs, key) for key in ("rps", "p50_us", "p99_us", "cpu_us_per_req")}
               for k, runs in kinds.items()}
        row["hello"]["sandbox_ns_mean"] = med(h, "sandbox_ns_mean")
        # Ratios per round (each pair ran back to back), then the median;
        # their spread shows how noisy the machine was.
        ratios = [a["rps"] / b["rps"] for a, b in zip(h, v)]
        row["rps_ratio"] = statistics.median(ratios)
        row["rps_ratio_range"] = [min(ratios), max(ratios)]
        row["p99_ratio"] = statistics.median(a["p99_us"] / b["p99_us"] for a, b in zip(h, v))
        row["cpu_overhead_us"] = statistics.median(
            a["cpu_us_per_req"] - b["cpu_us_per_req"] for a, b in zip(h, v))
        row["errors"] = sum(r["errors"] for r in h + v)
        out[config] = row
    return out


def representative(results: dict, raws: dict, config: str, kind: str) -> str:
    """The raw wrk output of the round whose req/s is the median of that kind."""
    runs = results[config][kind]
    order = sorted(range(len(runs)), key=lambda i: runs[i]["rps"])
    return raws[config][kind][order[len(order) // 2]]


def targets(summary: dict, cost: dict | None) -> list[tuple[str, str, str, str]]:
    rows = []
    for config, s in summary.items():
        rows.append((f"throughput sandboxed/vanilla, {config}", f">= {TARGET_RPS_RATIO}",
                     f"{s['rps_ratio']:.3f}", "PASS" if s["rps_ratio"] >= TARGET_RPS_RATIO else "MISS"))
    for config, s in summary.items():
        rows.append((f"p99 sandboxed/vanilla, {config}", f"<= {TARGET_P99_RATIO}x",
                     f"{s['p99_ratio']:.2f}x", "PASS" if s["p99_ratio"] <= TARGET_P99_RATIO else "MISS"))
    if cost:
        rows.append(("sandbox cost per request, median (mtd-run)", f"<= {TARGET_SANDBOX_NS} ns",
                     f"{cost['median']:,} ns", "PASS" if cost["median"] <= TARGET_SANDBOX_NS else "MISS"))
    else:
        rows.append(("sandbox cost per request, median (mtd-run)", f"<= {TARGET_SANDBOX_NS} ns",
                     "not measured", "-"))
    rows.append(("1,000 hello tenants in one process, RSS", "< 1 GB", "not measured here", "-"))
    return rows


def format_summary(summary: dict, cost: dict | None, rss: int, server_threads: int, rounds: int,
                   duration: float, load: float) -> str:
    lines = [f"Medians of {rounds} interleaved round(s), {duration:g} s per run, "
             f"{server_threads} server threads; 1-minute load average before each run: median {load:.1f}",
             ""]
    hdr = (f"{'load':<18} {'path':<8} {'req/s':>10} {'p50 us':>8} {'p99 us':>8} {'CPU us/req':>11}"
           f" {'in sandbox':>11}")
    lines.append(hdr)
    lines.append("-" * len(hdr))
    for config, s in summary.items():
        for kind in KINDS:
            k = s[kind]
            sb = f"{k['sandbox_ns_mean'] / 1e3:8.2f} us" if kind == "hello" else ""
            lines.append(f"{config:<18} {kind:<8} {k['rps']:>10,.0f} {k['p50_us']:>8.1f} {k['p99_us']:>8.1f}"
                         f" {k['cpu_us_per_req']:>11.2f} {sb:>11}")
        lo, hi = s["rps_ratio_range"]
        lines.append(f"{'':<18} {'ratio':<8} {s['rps_ratio']:>10.3f} {'':>8} {s['p99_ratio']:>7.2f}x"
                     f" {s['cpu_overhead_us']:>+8.2f} us  (hello - vanilla CPU/request; "
                     f"req/s ratio per round {lo:.2f}..{hi:.2f})")
        if s["errors"]:
            lines.append(f"{'':<18} !! {s['errors']:,} failed requests or socket errors")
    lines.append("")
    if cost:
        lines.append(f"per-request sandbox cost (mtd-run, fork + handler + teardown, one thread, "
                     f"{cost['requests']:,} requests): median {cost['median']:,} ns, p99 {cost['p99']:,} ns, "
                     f"{cost['instructions']:,} guest instructions, {cost['copied']:,} bytes copied; "
                     f"cache-cold (mtd-run --cold {cost['cold_kib']}) median {cost['cold_median']:,} ns")
    lines.append(f"server RSS (hello, counter, api, mandelbrot loaded; after the runs): {rss / 2**20:,.1f} MiB")
    lines.append("")
    rows = targets(summary, cost)
    w = max(len(r[0]) for r in rows)
    lines.append("targets (issue #8):")
    for name, target, got, verdict in rows:
        lines.append(f"  {name:<{w}}  {target:>10}  {got:>18}  {verdict}")
    return "\n".join(lines)


def format_markdown(summary: dict, cost: dict | None, rss: int, m: dict, raws: list[str], command: str,
                    server_threads: int, rounds: int, duration: float, load: float) -> str:
    t1 = summary.get("wrk -t1 -c8") or next(iter(summary.values()))
    out = [f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, {m['os']}, "
           f"Linux {m['kernel']}; {m['wrk']}; H2O {m['h2o']}. wrk, the server "
           f"({server_threads} worker threads) and whatever else runs share the two cores (the 1-minute "
           f"load average before each run, the benchmark's own included, had a median of {load:.1f}), so absolute figures are noisy; "
           f"the ratios come from runs interleaved against one server process.",
           "", "```sh", f"$ {command}", "```", "",
           "A representative run of each (the round with the median req/s):", "", "```sh"]
    out.append("\n\n".join(raws))
    out += ["```", ""]
    out.append(f"Medians of {rounds} interleaved rounds of {duration:g} s each. CPU is the server "
               f"process's user + system time per request answered; hello minus vanilla is what the "
               f"sandbox really costs per request. In sandbox is the server's own mean time per hello "
               f"request inside the sandbox (fork, guest, copy-out; its /stats counters).")
    out += ["", "| load | hello req/s | vanilla req/s | ratio (rounds) | hello p99 | vanilla p99 | p99 ratio "
                "| hello CPU/req | vanilla CPU/req | difference | in sandbox |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for config, s in summary.items():
        h, v = s["hello"], s["vanilla"]
        lo, hi = s["rps_ratio_range"]
        out.append(f"| {config} | {h['rps']:,.0f} | {v['rps']:,.0f} | {s['rps_ratio']:.3f} ({lo:.2f}–{hi:.2f}) "
                   f"| {fmt_us(h['p99_us'])} | {fmt_us(v['p99_us'])} | {s['p99_ratio']:.2f}x "
                   f"| {h['cpu_us_per_req']:.2f} µs | {v['cpu_us_per_req']:.2f} µs "
                   f"| {s['cpu_overhead_us']:+.2f} µs | {h['sandbox_ns_mean'] / 1e3:.2f} µs |")
    out.append("")
    sentence = (f"With `wrk -t1 -c8` the sandboxed hello answered {t1['rps_ratio']:.2f} of vanilla's "
                f"requests per second, with a p99 of {fmt_us(t1['hello']['p99_us'])} against "
                f"{fmt_us(t1['vanilla']['p99_us'])}; the server spent {t1['cpu_overhead_us']:.2f} µs more "
                f"CPU per sandboxed request")
    if cost:
        sentence += (f", and a fork + run + teardown of the hello sandbox alone takes "
                     f"{cost['median']:,} ns (median; p99 {cost['p99']:,} ns), or {cost['cold_median']:,} ns "
                     f"when {cost['cold_kib']:,} KiB of other memory is written between requests, "
                     f"as the kernel and the event loop do in the server")
    out += [sentence + f". Server RSS with the four bundled tenants: {rss / 2**20:,.0f} MiB.", ""]
    out += ["| target (issue #8) | wanted | measured | |", "| --- | --- | --- | --- |"]
    for name, target, got, verdict in targets(summary, cost):
        out.append(f"| {name} | {target} | {got} | {verdict} |")
    out.append("")  # a table must end before whatever follows the pasted block
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=None, metavar="S", help="seconds per run (default: 10)")
    ap.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default: 5)")
    ap.add_argument("--quick", action="store_true",
                    help="development run: 2 s per run, 1 round, 200k sandbox requests (unless given)")
    ap.add_argument("--threads", type=int, default=0, help="server worker threads (default: one per core)")
    ap.add_argument("--sandbox-requests", type=int, default=1_000_000, metavar="N",
                    help="requests for the per-request sandbox cost (default: 1M; 0 skips it)")
    ap.add_argument("--cache-dir", type=Path, default=None, help="tenant build cache for the server")
    ap.add_argument("--json", type=Path, default=None, metavar="FILE", help="also save every figure as JSON")
    ap.add_argument("--markdown", action="store_true", help="also print the README's Benchmarks block")
    args = ap.parse_args()
    if args.quick:
        args.sandbox_requests = min(args.sandbox_requests, 200_000)
    if args.duration is None:
        args.duration = 2.0 if args.quick else 10.0
    if args.rounds is None:
        args.rounds = 1 if args.quick else 5
    if not shutil.which("wrk"):
        sys.exit("bench_http: wrk not found (apt-get install wrk)")
    # The command as given, less where it saved its JSON.
    argv = list(sys.argv[1:])
    if "--json" in argv:
        del argv[argv.index("--json"):argv.index("--json") + 2]
    command = " ".join([".venv/bin/python tests/benchmarks/bench_http.py"]
                       + [a for a in argv if not a.startswith("--json=")])

    cost = sandbox_cost(args.sandbox_requests) if args.sandbox_requests else None

    server = Server(args.threads, args.cache_dir)
    results: dict = {c: {k: [] for k in KINDS} for c in [*WRK_CONFIGS, BUILTIN]}
    raws: dict = {c: {k: [] for k in KINDS} for c in WRK_CONFIGS}
    try:
        # Warm both paths (arena pages, connection setup) before measuring.
        run_wrk(server.url + "/", 1, 8, 1)
        run_wrk(server.url + VANILLA_PATH, 1, 8, 1)
        total = args.rounds * len(results) * 2
        n = 0
        for rnd in range(args.rounds):
            for config in results:
                order = KINDS if rnd % 2 == 0 else KINDS[::-1]
                for kind in order:
                    n += 1
                    print(f"[{n}/{total}] round {rnd + 1} {config} {kind} ...", end="", file=sys.stderr,
                          flush=True)
                    r, raw = measure(server, config, kind, args.duration)
                    results[config][kind].append(r)
                    if raw:
                        raws[config][kind].append(raw)
                    print(f" {r['rps']:,.0f} req/s p99 {r['p99_us']:.0f} us "
                          f"{r['cpu_us_per_req']:.2f} us CPU/req", file=sys.stderr, flush=True)
                    time.sleep(0.5)  # let connections close
        rss = server.rss()
        server_threads = args.threads or os.cpu_count()
    finally:
        server.stop()

    summary = summarize(results)
    load = statistics.median(r["loadavg_before"] for kinds in results.values() for runs in kinds.values()
                             for r in runs)
    rep = [representative(results, raws, c, k) for c in WRK_CONFIGS for k in KINDS]
    print("Representative wrk runs (the round with the median req/s):\n")
    print("\n\n".join(rep))
    print()
    print(format_summary(summary, cost, rss, server_threads, args.rounds, args.duration, load))
    m = machine()
    if args.markdown:
        print("\n--- markdown for README.md ## Benchmarks ---\n")
        print(format_markdown(summary, cost, rss, m, rep, command, server_threads, args.rounds, args.duration,
                              load))
    if args.json:
        args.json.write_text(json.dumps({
            "machine": m, "duration_s": args.duration, "rounds": args.rounds,
            "server_threads": server_threads, "loadavg_median": load, "runs": results, "summary": summary,
            "sandbox_cost": cost, "rss_bytes": rss, "representative_wrk_output": rep,
            "targets": [dict(zip(("name", "target", "measured", "verdict"), t))
                        for t in targets(summary, cost)]}, indent=2))
        print(f"\nfigures saved to {args.json}")
    return 0


if __name__ == "__main__":  # the tenant build uses multiprocessing (forkserver)
    sys.exit(main())
