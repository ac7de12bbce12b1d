"""Load tests against the engine's own server with the built-in generator
(mtd._core.LoadGenerator): what `mtd-console bench` and the console's load
test screen run."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from .. import _core
from .units import duration_us

VANILLA_PATH = "/_mtd/vanilla"


@dataclass
class LoadTestSpec:
    tenant: str | None = None  # None: whatever the default tenant is
    path: str = "/"
    duration: float = 5.0
    requests: int = 0  # > 0: stop after this many instead of (or before) the duration
    connections: int = 16
    threads: int = 2
    rate: float = 0.0  # total requests/s; 0: as fast as possible
    vanilla: bool = False  # hit /_mtd/vanilla (native, unsandboxed) instead

    @property
    def label(self) -> str:
        return "vanilla" if self.vanilla else f"sandboxed {self.tenant or 'default'}"


@dataclass
class LoadTestResult:
    spec: LoadTestSpec
    report: dict  # LoadGenerator.wait()'s report

    @property
    def rps(self) -> float:
        return self.report["rps"]

    @property
    def failed(self) -> int:
        """Requests that did not get a 2xx answer (errors and other statuses)."""
        status = self.report["status"]
        return sum(self.report["errors"].values()) + sum(
            v for k, v in status.items() if k != "2xx")

    def summary(self) -> str:
        """One line, in the console's units (engine/units.py)."""
        lat = self.report["latency"]
        return (f"{self.spec.label:<20} {self.rps:>10,.0f} req/s  p50 {duration_us(lat['p50_us']):>8}"
                f"  p99 {duration_us(lat['p99_us']):>8}  max {duration_us(lat['max_us']):>8}  "
                f"{self.report['requests']:,} requests, {self.failed:,} failed")

    def fields(self) -> dict:
        """The run for a structured log line (docs/logging.md: load_test)."""
        lat = self.report["latency"]
        return {"target": "vanilla" if self.spec.vanilla else self.spec.tenant,
                "path": VANILLA_PATH if self.spec.vanilla else self.spec.path,
                "duration_s": self.spec.duration, "connections": self.spec.connections,
                "rate": self.spec.rate, "requests": self.report["requests"],
                "seconds": self.report["seconds"], "rps": self.rps, "failed": self.failed,
                "p50_us": lat["p50_us"], "p99_us": lat["p99_us"], "max_us": lat["max_us"]}


def host_header_for(engine, spec: LoadTestSpec) -> str:
    if spec.vanilla or spec.tenant is None:
        return ""
    status = engine.tenants.get(spec.tenant)
    if status is None:
        raise ValueError(f"no tenant named '{spec.tenant}'")
    if status.hosts:
        return status.hosts[0]
    if status.default:
        return ""
    raise ValueError(f"tenant '{spec.tenant}' has no host names and is not the default")


class LoadTest:
    def __init__(self, engine, spec: LoadTestSpec):
        self.spec = spec
        address = "127.0.0.1" if engine.config.host in ("0.0.0.0", "") else engine.config.host
        self.generator = _core.LoadGenerator(
            address=address, port=engine.port,
            path=VANILLA_PATH if spec.vanilla else spec.path,
            host_header=host_header_for(engine, spec), threads=spec.threads,
            connections=spec.connections, duration=spec.duration, requests=spec.requests,
            rate=spec.rate)

    def start(self) -> "LoadTest":
        self.generator.start()
        return self

    def progress(self) -> dict:
        return self.generator.progress()

    def stop(self) -> None:
        self.generator.stop()

    def wait(self) -> LoadTestResult:
        return LoadTestResult(self.spec, self.generator.wait())


@dataclass
class Comparison:
    runs: list[LoadTestResult] = field(default_factory=list)

    def ratio(self) -> float:
        """Median over pairs of sandboxed/vanilla req/s, each pair run back to back."""
        sandboxed = [r.rps for r in self.runs if not r.spec.vanilla]
        vanilla = [r.rps for r in self.runs if r.spec.vanilla]
        return statistics.median(s / v for s, v in zip(sandboxed, vanilla) if v > 0)
