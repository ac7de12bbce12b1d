"""Engine settings with the defaults an operator expects."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "mtd" / "builds"


@dataclass
class EngineConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    threads: int = 0  # 0: one worker per core
    tenants_dir: Path = field(default_factory=lambda: Path("tenants"))
    cache_dir: Path = field(default_factory=default_cache_dir)
    vanilla: bool = True  # serve /_mtd/vanilla, the unsandboxed comparison page
    admin_port: int | None = 8081  # /metrics and /stats on 127.0.0.1; 0 = any free port, None = off
    build_jobs: int = 0  # 0: one build per core
    # Seconds a connection has to send a whole request head, from its accept
    # or the end of its previous response (so also the keep-alive idle limit).
    request_timeout: float = 10.0
    # Requests that outlast one time slice (~100 µs) and are continued between
    # other requests, per worker thread; 0 turns time slicing off. Of those,
    # at most max_parked_per_tenant per tenant. Past either cap: 503.
    max_parked: int = 16
    max_parked_per_tenant: int = 8
    # Translate each tenant version to host code in the background (the
    # second execution tier); it serves on the interpreter until then.
    translate: bool = True
    # A new version serves from a quick build (build.QUICK_FLAGS), sooner,
    # while its optimised build is made in the background and swapped in
    # (engine/tiers.py); False builds each version once, optimised.
    quick_builds: bool = True
