"""Neighbour latency under attack: printed figures, not a timed test.

Run as `.venv/bin/python tests/benchmarks/bench_neighbour.py` from the repo
root (after `./mtd setup`). pytest does not collect it.

One embedded engine (2 worker threads by default) serves the bundled hello
tenant (the neighbour) and tests/guest_tenants/hostile.cpp (the attacker,
default limits: 2,000,000 instructions, 64 MiB per request; responses
capped at 1 MiB). The built-in
load generator drives hello at a fixed rate; its latency is measured from
each request's intended start, so a stalled worker is not hidden. Each
attack round runs the neighbour load while a second generator sends one
attack over one keep-alive connection at --attack-rate (default 100/s; 0:
as fast as it can), and a control row sends a well-behaved request instead;
baseline rounds (neighbour alone) are interleaved with the attack rounds, so
both see the same machine. Besides the tenant attacks, "init-loop" reloads a
tenant whose on_init never returns (in a loop, default init budget),
"rebuild loop" saves new code of the api tenant again and again (each save a
quick build, an optimised build and a translation) and the client attacks
open idle or slowloris connections.

Printed: per attack, the neighbour's p99 (median over rounds) against the
median p99 of all baseline rounds, their ratio, and what the attack itself
got (statuses, req/s), so a row whose attack did not run is visible.
"""
from __future__ import annotations

import argparse
import contextlib
import re
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GUEST_TENANTS = ROOT / "tests" / "guest_tenants"

# name -> path on the hostile tenant (see hostile.cpp)
TENANT_ATTACKS = {
    "control: well-behaved": "/ok",  # the same request rate, nothing hostile
    "infinite loop": "/loop",
    "long straight-line block": "/long-block",
    "page grower (8 MiB new)": "/page-grower",
    "print flood": "/print-flood",
    "deep recursion": "/recursion",
    "malloc bomb": "/malloc",
    "brk bomb": "/brk",
    "mmap bomb": "/mmap",
    "mmap address space": "/mmap-reserve",
    "null read": "/null",
    "null write": "/null-write",
    "top-half write": "/high-write",
    "unmapped write": "/unmapped-write",
    "write own code": "/write-code",
    "jump into data": "/jump-data",
    "illegal instruction": "/illegal",
    "unsupported syscalls": "/syscalls",  # query filled in from syscalls.cpp
    "response too large": "/big",
    "response outside memory": "/high-pointer",
    "uncaught C++ exception": "/throw",
    "exit without response": "/exit",
}
OTHER_ATTACKS = ["init-loop", "rebuild loop", "2000 idle connections", "slowloris 500"]

INIT_LOOP = '#include "mtd_guest.h"\nint main() { for (volatile int i = 0;; i = i + 1) {} }\n'


def supported_syscalls() -> str:
    source = (ROOT / "cpp" / "sandbox" / "syscalls.cpp").read_text()
    return ",".join(re.findall(r"\bSYS_\w+ = (\d+)", source))


def make_tenants(root: Path) -> None:
    shutil.copytree(ROOT / "tenants" / "hello", root / "hello")
    shutil.copytree(ROOT / "tenants" / "api", root / "rebuilder")
    (root / "rebuilder" / "tenant.toml").write_text('hosts = ["rebuilder.test"]\n')
    (root / "hostile").mkdir()
    (root / "hostile" / "app.cpp").write_text((GUEST_TENANTS / "hostile.cpp").read_text())
    # Default limits, except the response size: /big answers 4 MiB, under
    # the 16 MiB default.
    (root / "hostile" / "tenant.toml").write_text('hosts = ["hostile.test"]\n[limits]\n'
                                                  'response_bytes = 1048576\n')
    (root / "initloop").mkdir()
    (root / "initloop" / "app.cpp").write_text('#include "mtd_guest.h"\n'
                                               'int main() { mtd_ready(); return 0; }\n')
    (root / "initloop" / "tenant.toml").write_text('hosts = ["initloop.test"]\n')


class ClientAttack:
    """Idle or slowloris connections held open (and dripped) in a thread."""

    def __init__(self, port: int, count: int, drip: bool):
        self.port, self.count, self.drip = port, count, drip
        self.stop = threading.Event()
        self.opened = 0
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        conns = []
        try:
            for _ in range(self.count):
                if self.stop.is_set():
                    break
                try:
                    s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
                except OSError:
                    break
                s.setblocking(False)
                if self.drip:
                    with contextlib.suppress(OSError):
                        s.send(b"GET / HTTP/1.1\r\n")
                conns.append(s)
                self.opened += 1
            tick = 0
            while not self.stop.wait(0.1):
                if self.drip:  # one more header byte per connection every 100 ms
                    for s in conns:
                        with contextlib.suppress(OSError):
                            s.send(b"X-Slow: drip\r\n"[tick % 14:][:1])
                    tick += 1
        finally:
            for s in conns:
                s.close()

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 10
        while self.opened < self.count and time.monotonic() < deadline and self.thread.is_alive():
            time.sleep(0.05)  # the round starts once they are all open
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(10)


class InitLoopAttack:
    """Reloads a tenant whose on_init never returns, again and again: each
    load runs the init budget (2e9 instructions by default) to its end."""

    def __init__(self, engine, folder: Path):
        self.engine, self.folder = engine, folder
        self.stop = threading.Event()
        self.loads = 0
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        from mtd.engine import LoadFailed
        while not self.stop.is_set():
            with contextlib.suppress(LoadFailed):
                self.engine.reload("initloop")
            self.loads += 1

    def __enter__(self):
        from mtd.engine.tenants import load_tenant
        (self.folder / "app.cpp").write_text(INIT_LOOP)
        self.engine.builder.build(load_tenant(self.folder))  # built before the round starts
        self.thread.start()
        time.sleep(0.2)
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(60)  # the load in progress runs to its budget


class RebuildAttack:
    """Saves new code of a tenant (the api one) and reloads it, again and
    again: every save pays a quick build, an optimised build and a
    translation compile, all in the background of the neighbour's traffic."""

    def __init__(self, engine, folder: Path):
        self.engine, self.folder = engine, folder
        self.source = (ROOT / "tenants" / "api" / "app.py").read_text()  # as bundled
        self.stop = threading.Event()
        self.loads = 0
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        from mtd.engine import LoadFailed
        while not self.stop.is_set():
            # New code (not just a comment): the translation is new too.
            (self.folder / "app.py").write_text(self.source.replace('"api"', f'"api {time.time_ns()}"'))
            with contextlib.suppress(LoadFailed):
                self.engine.reload("rebuilder")
            self.loads += 1
            self.engine.tiers.wait_idle()

    def __enter__(self):
        self.thread.start()
        time.sleep(0.2)
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(120)


def neighbour_run(engine, args):
    from mtd import _core
    gen = _core.LoadGenerator(port=engine.port, path="/", host_header="", threads=1,
                              connections=args.connections, duration=args.seconds, rate=args.rate)
    gen.start()
    return gen


def attack_generator(engine, path: str, args):
    from mtd import _core
    return _core.LoadGenerator(port=engine.port, path=path, host_header="hostile.test", threads=1,
                               connections=args.attack_connections, duration=args.seconds + 1,
                               rate=args.attack_rate, timeout=30)


def p99_ms(report: dict) -> float:
    return report["latency"]["p99_us"] / 1000


def check_neighbour(report: dict, label: str) -> None:
    bad = sum(report["errors"].values()) + sum(v for k, v in report["status"].items() if k != "2xx")
    if bad:
        print(f"  !! neighbour got {bad} non-2xx answers or errors during {label}: "
              f"{report['status']} {report['errors']}", file=sys.stderr)


def run_round(engine, args, attack: str | None, paths: dict, tenants_root: Path):
    """One neighbour run, alone or alongside `attack`; returns (neighbour report, attack note)."""
    if attack is None:
        report = neighbour_run(engine, args).wait()
        check_neighbour(report, "baseline")
        return report, ""
    if attack in paths:
        attacker = attack_generator(engine, paths[attack], args)
        attacker.start()
        time.sleep(0.2)  # the attack is under way before the neighbour starts
        report = neighbour_run(engine, args).wait()
        attacker.stop()
        a = attacker.wait()
        statuses = " ".join(f"{k}:{v}" for k, v in a["status"].items() if v)
        errors = " ".join(f"{k}:{v}" for k, v in a["errors"].items() if v)
        note = f"{a['rps']:8.0f}/s {statuses} {errors}".rstrip()
    elif attack == "rebuild loop":
        with RebuildAttack(engine, tenants_root / "rebuilder") as rebuild:
            report = neighbour_run(engine, args).wait()
        note = f"{rebuild.loads} saves"
    elif attack == "init-loop":
        with InitLoopAttack(engine, tenants_root / "initloop") as init:
            report = neighbour_run(engine, args).wait()
        note = f"{init.loads} loads (each ends at the init budget)"
    else:
        count = int(attack.split()[-1] if attack.startswith("slowloris") else attack.split()[0])
        with ClientAttack(engine.port, count, drip=attack.startswith("slowloris")) as c:
            report = neighbour_run(engine, args).wait()
        note = f"{c.opened} connections open"
    check_neighbour(report, attack)
    return report, note


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=1000, help="neighbour requests/s (default 1000)")
    parser.add_argument("--connections", type=int, default=16, help="neighbour connections (default 16)")
    parser.add_argument("--seconds", type=float, default=2.0, help="per run (default 2)")
    parser.add_argument("--rounds", type=int, default=3, help="baseline/attack pairs per attack (default 3)")
    parser.add_argument("--threads", type=int, default=2, help="server worker threads (default 2)")
    parser.add_argument("--attack-connections", type=int, default=1)
    parser.add_argument("--attack-rate", type=float, default=100,
                        help="attacks/s in total (default 100; 0: as fast as the connections allow)")
    parser.add_argument("--only", nargs="*", help="attack names (or substrings) to run")
    args = parser.parse_args()

    from mtd.engine import Engine, EngineConfig

    paths = dict(TENANT_ATTACKS)
    paths["unsupported syscalls"] = "/syscalls?" + supported_syscalls()
    attacks = list(TENANT_ATTACKS) + OTHER_ATTACKS
    if args.only:
        attacks = [a for a in attacks if any(o in a for o in args.only)]

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "tenants"
        root.mkdir()
        make_tenants(root)
        config = EngineConfig(port=0, threads=args.threads, tenants_dir=root,
                              cache_dir=Path(tmp) / "cache", admin_port=None, vanilla=False)
        engine = Engine(config)
        engine.start()
        try:
            engine.tiers.wait_idle()  # measure the tiers they end in
            bad = [s.name for s in engine.tenants.values() if s.state != "serving"]
            if bad:
                sys.exit(f"tenants not serving: {bad}")
            print(f"neighbour: hello at {args.rate:.0f} req/s over {args.connections} connections, "
                  f"{args.seconds:.0f} s runs; attacker: {args.attack_connections} connection(s) at "
                  f"{args.attack_rate or 'max'} req/s; {args.threads} server threads; "
                  f"{args.rounds} interleaved baseline/attack pairs per attack")
            neighbour_run(engine, args).wait()  # warm-up
            baselines: list[float] = []
            rows = []
            for attack in attacks:
                under, notes = [], []
                for _ in range(args.rounds):
                    base, _ = run_round(engine, args, None, paths, root)
                    baselines.append(p99_ms(base))
                    report, note = run_round(engine, args, attack, paths, root)
                    under.append(p99_ms(report))
                    notes.append(note)
                own_base = statistics.median(baselines[-args.rounds:])
                rows.append((attack, own_base, statistics.median(under), notes[-1]))
                print(f"  {attack:<26} p99 {statistics.median(under):8.3f} ms "
                      f"(baseline {own_base:.3f} ms)  attacker: {notes[-1]}", flush=True)
        finally:
            engine.stop()

    base = statistics.median(baselines)
    print()
    print(f"neighbour p99 baseline (median of {len(baselines)} runs): {base:.3f} ms")
    print(f"{'attack':<26} {'p99 ms':>9} {'base ms':>9} {'ratio':>7}  attacker got")
    for attack, own_base, p99, note in rows:
        ratio = p99 / own_base if own_base else float("inf")
        flag = "" if ratio <= 2 else "  > 2x"
        print(f"{attack:<26} {p99:9.3f} {own_base:9.3f} {ratio:6.2f}x{flag}  {note}")


if __name__ == "__main__":
    main()
