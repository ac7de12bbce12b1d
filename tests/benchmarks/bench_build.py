"""Build times: printed figures, not a timed test.

Run as `.venv/bin/python tests/benchmarks/bench_build.py [--saves 5]` from
the repo root. pytest does not collect it (its default pattern is test_*.py).

  - cold: each bundled tenant built into a fresh, empty cache, one process
    per tenant, so the first build pays for everything once: the Pythran
    worker's start-up, the precompiled header and the guest allocator;
  - warm: the same tenant with a changed source into that warmed cache (what
    a save costs once the server runs);
  - save to serving: hello in a running engine with the file watcher, its
    app.py saved with a different page each time, --pause seconds after the
    previous reload (an editor's pace, not a loop's); the engine's own
    "save to serving in X s" figure, median and range over --saves saves.
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TENANTS = ROOT / "tenants"

ONE_TENANT = r"""
import json, shutil, sys, time
from pathlib import Path
from mtd.engine import Builder
from mtd.engine.tenants import load_tenant
src, cache, work = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
shutil.copytree(src, work / src.name)
folder = work / src.name
spec = load_tenant(folder)
t0 = time.monotonic(); first = Builder(cache).build(spec); cold = time.monotonic() - t0
source = spec.source.read_text()
spec.source.write_text(source + ("\n# changed\n" if spec.language == "python" else "\n// changed\n"))
t0 = time.monotonic(); second = Builder(cache).build(load_tenant(folder)); warm = time.monotonic() - t0
assert not first.cached and not second.cached
print(json.dumps({"cold": cold, "warm": warm}))
"""


def build_times(names: list[str]) -> None:
    print(f"{'tenant':<12} {'cold build':>11} {'warm rebuild':>13}")
    for name in names:
        with tempfile.TemporaryDirectory(prefix="bench-build-") as tmp:
            cache, work = Path(tmp) / "cache", Path(tmp) / "work"
            work.mkdir()
            out = subprocess.run([sys.executable, "-c", ONE_TENANT, str(TENANTS / name),
                                  str(cache), str(work)], capture_output=True, text=True)
            if out.returncode != 0:
                print(f"{name:<12} failed: {out.stderr.strip().splitlines()[-1:]}")
                continue
            times = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"{name:<12} {times['cold']:>9.2f} s {times['warm']:>11.2f} s")


def save_to_serving(saves: int, pause: float) -> None:
    from mtd.engine import Engine, EngineConfig
    from mtd.engine.watcher import TenantWatcher

    with tempfile.TemporaryDirectory(prefix="bench-save-") as tmp:
        root = Path(tmp) / "tenants"
        shutil.copytree(TENANTS / "hello", root / "hello")
        engine = Engine(EngineConfig(port=0, threads=1, tenants_dir=root,
                                     cache_dir=Path(tmp) / "cache", admin_port=None))
        engine.start()
        watcher = TenantWatcher(engine)
        watcher.start()
        app = root / "hello" / "app.py"
        source = app.read_text()
        figures = []
        try:
            for i in range(saves):
                time.sleep(pause)
                app.write_text(source.replace('page = """', f'page = """save {i}\n', 1))
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline:
                    notes = [r.text for r in engine.drain_logs() if r.tenant == "hello"]
                    done = [n for n in notes if n.startswith("save to serving in")]
                    errors = [n for n in notes if n.startswith("error")]
                    if errors:
                        raise SystemExit(f"hello failed to build: {errors[0]}")
                    if done:
                        figures.append(engine.tenants["hello"].save_to_serving_s)
                        break
                    time.sleep(0.02)
                else:
                    raise SystemExit("no reload within 120 s")
        finally:
            watcher.stop()
            engine.stop()
    print(f"hello save to serving over {saves} saves: median {statistics.median(figures):.2f} s "
          f"(min {min(figures):.2f}, max {max(figures):.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--saves", type=int, default=5)
    parser.add_argument("--pause", type=float, default=2.0,
                        help="seconds between a reload and the next save (default: %(default)s)")
    parser.add_argument("--tenants", nargs="*", default=None,
                        help="bundled tenants to time (default: all)")
    args = parser.parse_args()
    names = args.tenants if args.tenants is not None else sorted(
        p.name for p in TENANTS.iterdir() if p.is_dir())
    build_times(names)
    if args.saves:
        save_to_serving(args.saves, args.pause)


if __name__ == "__main__":
    main()
