"""`mtd-console bench`: the built-in load generator against the embedded
engine. With --compare it alternates sandboxed and vanilla runs (A B A B ...)
so both see the same machine noise, and ends with their median ratio."""

from __future__ import annotations

import argparse
import sys
import threading
import time

from mtd.engine import Engine
from mtd.engine.loadtest import Comparison, LoadTest, LoadTestResult, LoadTestSpec

from .headless import format_record


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tenant", default=None, help="tenant to load (default: the default tenant)")
    parser.add_argument("--path", default="/", help="request path (default: %(default)s)")
    parser.add_argument("--duration", type=float, default=5.0, metavar="S",
                        help="seconds per run (default: %(default)s)")
    parser.add_argument("--connections", type=int, default=16, metavar="C",
                        help="keep-alive connections (default: %(default)s)")
    parser.add_argument("--load-threads", type=int, default=2, metavar="T",
                        help="generator threads (default: %(default)s)")
    parser.add_argument("--rate", type=float, default=0.0, metavar="R",
                        help="fixed total requests/s, 0 = as fast as possible (default)")
    parser.add_argument("--compare", action="store_true",
                        help="alternate sandboxed and /_mtd/vanilla runs and print their ratio")
    parser.add_argument("--runs", type=int, default=3, metavar="N",
                        help="with --compare: runs of each kind (default: %(default)s, minimum 3)")


def _show_progress(test: LoadTest, label: str, done: threading.Event) -> None:
    while not done.wait(0.5):
        p = test.progress()
        sys.stderr.write(f"\r{label}: {p['elapsed']:5.1f} s  {p['completed']:>10,} requests"
                         f"  {p['errors']:,} errors ")
        sys.stderr.flush()
    sys.stderr.write("\r" + " " * 70 + "\r")


def run_one(engine: Engine, spec: LoadTestSpec, label: str) -> LoadTestResult:
    test = LoadTest(engine, spec).start()
    done = threading.Event()
    if sys.stderr.isatty():
        threading.Thread(target=_show_progress, args=(test, label, done), daemon=True).start()
    try:
        return test.wait()
    finally:
        done.set()


def run_bench(engine: Engine, args: argparse.Namespace, out=sys.stdout) -> int:
    tenant = args.tenant or next((n for n, s in engine.tenants.items() if s.default), None)
    base = dict(tenant=tenant, path=args.path, duration=args.duration,
                connections=args.connections, threads=args.load_threads, rate=args.rate)
    if args.tenant is not None and args.tenant not in engine.tenants:
        print(f"mtd-console bench: no tenant named '{args.tenant}'", file=sys.stderr)
        return 2
    print(f"mtd bench: {engine.server.threads} server threads, {args.load_threads} generator "
          f"threads x {args.connections} connections, {args.duration:g} s per run", file=out)
    if not args.compare:
        result = run_one(engine, LoadTestSpec(**base), "run")
        print(result.summary(), file=out)
        return 0 if result.failed == 0 else 1
    comparison = Comparison()
    runs = max(3, args.runs)
    for i in range(runs):
        for vanilla in (False, True):
            spec = LoadTestSpec(**base, vanilla=vanilla)
            result = run_one(engine, spec, f"run {len(comparison.runs) + 1}/{2 * runs}")
            comparison.runs.append(result)
            print(result.summary(), file=out, flush=True)
            time.sleep(0.2)  # let connections close before the next run
    print(f"median ratio sandboxed/vanilla: {comparison.ratio():.3f}", file=out)
    return 0 if all(r.failed == 0 for r in comparison.runs) else 1


def _wait_for_tiers(engine, timeout_s: float = 600) -> None:
    """Measures the tier each tenant ends in, not a quick build on its way out."""
    if engine.tiers.idle():
        return
    print("mtd-console bench: waiting for the optimised builds and translations...",
          file=sys.stderr, flush=True)
    engine.tiers.wait_idle(timeout_s)


def run_bench_command(config, args: argparse.Namespace) -> int:
    """Starts an engine with the tenants (no watching), benchmarks, stops."""
    try:
        engine = Engine(config)
        engine.start()
    except RuntimeError as e:
        print(f"mtd-console bench: {e}", file=sys.stderr)
        return 1
    try:
        for record in engine.drain_logs():
            if record.kind == "engine" and record.text.startswith("error"):
                print(format_record(record), file=sys.stderr)
        if args.compare and not config.vanilla:
            print("mtd-console bench: --compare needs /_mtd/vanilla (drop --no-vanilla)",
                  file=sys.stderr)
            return 2
        _wait_for_tiers(engine)
        return run_bench(engine, args)
    finally:
        engine.stop()
