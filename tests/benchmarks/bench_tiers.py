"""Execution tiers over HTTP: printed figures, not a timed test.

Run as `.venv/bin/python tests/benchmarks/bench_tiers.py` from the repo root
(pytest does not collect it: its default pattern is test_*.py).

  - per request: the bundled mandelbrot tenant served by two engines in
    this process, one interpreting (--no-translate) and one translated,
    measured in interleaved rounds (one keep-alive connection, closed loop,
    --seconds each); p50 per request and the translated/interpreted ratio;
  - save to serving: every bundled tenant in an engine with the file
    watcher and translation on, its source saved --saves times; from the
    write to the new version serving (on the interpreter), and to the same
    version serving translated. The saves add a comment, which leaves the
    code as it was, so the translation cache is emptied before each: every
    save pays for a compile. A load generator sends that tenant requests
    all the while; every failed request is counted.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TENANTS = ROOT / "tenants"


def wait_for(predicate, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"no {what} within {seconds:.0f} s")
        time.sleep(0.005)


def engine_for(tenants: Path, cache: Path, translate: bool):
    from mtd.engine import Engine, EngineConfig
    return Engine(EngineConfig(port=0, threads=1, tenants_dir=tenants, cache_dir=cache,
                               admin_port=None, translate=translate))


def load(port: int, host: str, seconds: float, connections: int = 1, rate: int = 0):
    from mtd import _core
    gen = _core.LoadGenerator(port=port, path="/", host_header=host, threads=1,
                              connections=connections, duration=seconds, rate=rate)
    gen.start()
    return gen


def per_request(rounds: int, seconds: float, work: Path) -> None:
    tenants = work / "tenants-mandelbrot"
    shutil.copytree(TENANTS / "mandelbrot", tenants / "mandelbrot")
    engines = {"interpreted": engine_for(tenants, work / "cache", translate=False),
               "translated": engine_for(tenants, work / "cache", translate=True)}
    for engine in engines.values():
        engine.start()
    try:
        wait_for(lambda: engines["translated"].tenants["mandelbrot"].tier == "translated", 120,
                 "mandelbrot translation")
        wait_for(engines["interpreted"].tiers.idle, 120, "the optimised build")  # not the quick one
        p50: dict[str, list[float]] = {name: [] for name in engines}
        for r in range(rounds):
            order = list(engines) if r % 2 == 0 else list(engines)[::-1]
            for name in order:
                report = load(engines[name].port, "mandelbrot.localhost", seconds).wait()
                failed = sum(report["errors"].values()) + report["requests"] - report["status"]["2xx"]
                if failed:
                    raise SystemExit(f"{name}: {failed} failed requests")
                p50[name].append(report["latency"]["p50_us"])
        med = {name: statistics.median(v) for name, v in p50.items()}
        print(f"mandelbrot per request over HTTP ({rounds} interleaved rounds of {seconds:.0f} s, "
              f"1 connection): interpreted p50 {med['interpreted']:.0f} us, translated p50 "
              f"{med['translated']:.0f} us, translated/interpreted {med['translated'] / med['interpreted']:.2f}")
    finally:
        for engine in engines.values():
            engine.stop()


def save_to_serving(names: list[str], saves: int, pause: float, work: Path) -> None:
    from mtd.engine.watcher import TenantWatcher
    tenants = work / "tenants-saves"
    for name in names:
        shutil.copytree(TENANTS / name, tenants / name)
    engine = engine_for(tenants, work / "cache", translate=True)
    engine.start()
    watcher = TenantWatcher(engine)
    watcher.start()
    print(f"{'tenant':<12} {'saves':>5} {'to serving (interp)':>21} {'to translated':>15} "
          f"{'requests':>9} {'failed':>7}")
    try:
        for name in names:
            status = lambda: engine.tenants[name]  # noqa: E731
            wait_for(lambda: status().tier in ("translated", "failed"), 120, f"{name} translation")
            app = next(tenants.joinpath(name).glob("app.*"))
            source = app.read_text()
            comment = "#" if app.suffix == ".py" else "//"
            gen = load(engine.port, f"{name}.localhost", 3600, connections=2, rate=500)
            serving, translated = [], []
            for i in range(saves):
                time.sleep(pause)
                version = status().version
                for cached in (work / "cache" / "translations").glob("*.so"):
                    cached.unlink()
                saved = time.monotonic()
                app.write_text(source + f"\n{comment} save {i}\n")
                wait_for(lambda: status().version > version, 60, f"{name} reload")
                serving.append(time.monotonic() - saved)
                wait_for(lambda: status().tier in ("translated", "failed"), 120, f"{name} translation")
                if status().tier == "failed":
                    raise SystemExit(f"{name}: translation failed")
                translated.append(time.monotonic() - saved)
            gen.stop()
            report = gen.wait()
            failed = sum(report["errors"].values()) + report["requests"] - report["status"]["2xx"]
            print(f"{name:<12} {saves:>5} {statistics.median(serving):>8.2f} s (max {max(serving):.2f})"
                  f" {statistics.median(translated):>6.2f} s (max {max(translated):.2f})"
                  f" {report['requests']:>9,} {failed:>7}")
    finally:
        watcher.stop()
        engine.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5, help="interleaved per-request rounds")
    ap.add_argument("--seconds", type=float, default=3, help="seconds per round")
    ap.add_argument("--saves", type=int, default=5, help="saves per tenant (0: skip)")
    ap.add_argument("--pause", type=float, default=1.0, help="seconds between a reload and the next save")
    ap.add_argument("--tenants", nargs="*", help="bundled tenants to save (default: all)")
    args = ap.parse_args()
    names = args.tenants or sorted(p.name for p in TENANTS.iterdir() if p.is_dir())
    load_avg = os.getloadavg()
    print(f"bench_tiers: load average {load_avg[0]:.2f} {load_avg[1]:.2f} {load_avg[2]:.2f}; "
          f"{os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="bench-tiers-") as tmp:
        if args.rounds:
            per_request(args.rounds, args.seconds, Path(tmp))
        if args.saves:
            save_to_serving(names, args.saves, args.pause, Path(tmp))


if __name__ == "__main__":
    main()
