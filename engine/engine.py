"""The engine facade: what the console, the headless mode and the tests use.
It owns the native server (mtd._core.Server), builds tenants and loads them
into it, and turns the native counters and logs into Python records."""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from .. import _core
from . import build_sandbox
from .build import BuildError, Builder, BuildResult
from .config import EngineConfig
from .logs import LogAssembler, LogRecord
from .tenants import TenantConfigError, TenantSpec, discover_tenants, load_tenant
from .tiers import TierWorker
from .vanilla import VANILLA_PAGE


DROPS_EVERY_S = 1.0


class LoadFailed(Exception):
    """A tenant could not be built or initialised; its previous version (if
    any) keeps serving."""


@dataclass
class TenantStatus:
    name: str
    hosts: list[str]
    default: bool
    state: str = "building"  # building | serving | error
    version: int = 0  # how many times a build was published
    loaded_at: float | None = None
    build_seconds: float | None = None
    cached: bool = False
    error: str | None = None
    log_path: Path | None = None
    save_to_serving_s: float | None = None  # last hot reload: change seen -> new version live
    # The serving version's execution tier (engine/tiers.py): optimising,
    # interpreted, translating, translated or failed. Set by Engine.set_tier.
    tier: str = "interpreted"


class Engine:
    def __init__(self, config: EngineConfig):
        # Paths are fixed at start-up: a relative --cache-dir used to reach
        # the build steps, which run in other working directories, and
        # every Python tenant failed with "pythran failed" and an empty log.
        config.tenants_dir = Path(config.tenants_dir).expanduser().resolve()
        config.cache_dir = Path(config.cache_dir).expanduser().resolve()
        self.config = config
        self.builder = Builder(config.cache_dir)
        self.server = _core.Server(config.host, config.port, config.threads,
                                   VANILLA_PAGE if config.vanilla else None, config.admin_port,
                                   config.request_timeout, config.max_parked,
                                   config.max_parked_per_tenant)
        self.tenants: dict[str, TenantStatus] = {}
        self.logs = LogAssembler()
        self._pending: list[LogRecord] = []  # records not yet drained by the caller
        self._drops_lock = threading.Lock()
        self._drops_checked = 0.0  # when _note_drops last read the counters
        self._log_dropped: dict[str, int] = {}  # tenant -> bytes its log rate limit refused
        self._queue_dropped = 0  # log entries the full queue lost
        self._lock = threading.Lock()  # guards tenants and logs across build threads
        # tenant -> lock held while a version of it is published, so that a
        # background swap (swap_build) and a reload never cross.
        self._publishing: dict[str, threading.Lock] = {}
        self._started = False
        self.tiers = TierWorker(self, config.translate)

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> list[TenantStatus]:
        """Builds and loads every tenant found, then starts serving. A tenant
        that fails is reported (state "error") and does not stop the others."""
        if build_sandbox.unsafe():
            self.note("", f"WARNING: {build_sandbox.UNSAFE_ENV}=1: tenant builds run WITHOUT "
                          "the build sandbox and can read any file this server can")
        specs, problems = discover_tenants(self.config.tenants_dir)
        for problem in problems:
            self.note("", f"error: tenant config: {problem}", event="error")
        jobs = self.config.build_jobs or os.cpu_count() or 1
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            statuses = list(pool.map(self._load_quietly, specs))
        self.server.start()
        self._started = True
        self._update_readiness()
        self.note("", f"serving on http://{self.config.host}:{self.port}/", event="serving",
                  port=self.port, admin_port=self.admin_port or None)
        if self.admin_port:
            self.note("", f"admin on http://127.0.0.1:{self.admin_port}/metrics, /stats, "
                          f"/healthz and /readyz")
        return statuses

    def stop(self) -> None:
        self.tiers.stop()  # versions waiting are dropped
        if self._started:
            self.server.set_ready(False, "stopping")
            self.server.stop()
            self._started = False

    def _update_readiness(self) -> None:
        """/readyz (admin port): ready once the first builds are done and
        the server serves. A tenant whose build failed does not make the
        whole server unready (its neighbours serve); the detail names it."""
        if not self._started:
            return
        with self._lock:
            statuses = list(self.tenants.values())
        serving = sum(1 for s in statuses if s.version > 0)
        failed = sorted(s.name for s in statuses if s.version == 0 and s.state == "error")
        detail = f"{serving} tenant(s) serving"
        if failed:
            detail += f"; never built: {', '.join(failed)}"
        self.server.set_ready(True, detail)

    def __enter__(self) -> "Engine":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def admin_port(self) -> int:
        """The admin listener's port (0 when it is off)."""
        return self.server.admin_port

    # -- tenants -----------------------------------------------------------

    def load(self, spec: TenantSpec) -> TenantStatus:
        """Builds and (re)loads one tenant. Raises LoadFailed with a readable
        one-line reason; the previous version, if any, keeps serving."""
        status = self._status_for(spec)
        status.state = "building"
        started = time.monotonic()
        self.note(spec.name, "build started", event="build_started", language=spec.language,
                  hosts=spec.hosts, default=spec.default)
        try:
            result = self.builder.build(spec, quick=self.config.quick_builds)
            with self._publish_lock(spec.name):
                loaded = self._load_elf(spec, result)
                status.version += 1
                self._set_tier_locked(status, "interpreted" if result.optimised else "optimising")
        except BuildError as e:
            self._fail(status, str(e), e.log, time.monotonic() - started)
            raise LoadFailed(str(e)) from e
        except _core.LoadError as e:
            self._fail(status, f"{spec.name}: {e}", None, time.monotonic() - started)
            raise LoadFailed(f"{spec.name}: {e}") from e
        except Exception as e:
            # Anything else (a broken build tool, a full disk, a bug) is this
            # tenant's build error too: the tenant leaves "building", its
            # last good version keeps serving, and no build thread dies.
            message = f"{spec.name}: build failed: {type(e).__name__}: {e}".splitlines()[0]
            self._fail(status, message, None, time.monotonic() - started)
            raise LoadFailed(message) from e
        finally:
            self._drain_guest_logs()  # on_init's prints come before the "loaded" line
        status.state, status.error, status.log_path = "serving", None, None
        status.loaded_at = time.time()
        status.build_seconds, status.cached = result.seconds, result.cached
        how = "cached build" if result.cached else f"built in {result.seconds:.1f} s"
        if not result.optimised:
            how = "quick " + how
        if not result.cached and build_sandbox.unsafe():
            how += " WITHOUT the build sandbox"
        self.note(spec.name, f"loaded version {status.version} ({how}, "
                               f"on_init {loaded['init_instructions']:,} instructions)",
                  event="build_done", version=status.version, cached=result.cached,
                  optimised=result.optimised, build_s=round(result.seconds, 3),
                  init_instructions=loaded["init_instructions"])
        self._update_readiness()
        if not result.optimised or self.config.translate:
            self.tiers.submit(spec, status.version, result)
        return status

    def swap_build(self, spec: TenantSpec, version: int, result: BuildResult) -> bool:
        """Publishes `result`, the optimised build of version `version`, in
        place of its quick build. False (nothing changes) if that version is
        no longer the one serving. Raises what load_tenant raises."""
        with self._publish_lock(spec.name):
            status = self.serving(spec.name, version)
            if status is None:
                return False
            loaded = self._load_elf(spec, result)
            self._set_tier_locked(status, "interpreted")
        how = "cached" if result.cached else f"built in {result.seconds:.1f} s"
        self.note(spec.name, f"version {version} optimised ({how}, on_init "
                             f"{loaded['init_instructions']:,} instructions)",
                  event="optimised", tier=status.tier, version=version, cached=result.cached,
                  seconds=round(result.seconds, 3))
        return True

    def set_tier(self, name: str, version: int, tier: str) -> bool:
        """Moves version `version` of tenant `name` to `tier`; False (and
        nothing changes) if another version serves by now."""
        with self._publish_lock(name):
            status = self.serving(name, version)
            if status is None:
                return False
            self._set_tier_locked(status, tier)
            return True

    def serving(self, name: str, version: int) -> TenantStatus | None:
        """Tenant `name`'s status if version `version` is the one it serves."""
        status = self.tenants.get(name)
        return status if status is not None and status.version == version else None

    def _set_tier_locked(self, status: TenantStatus, tier: str) -> None:
        status.tier = tier
        self.server.set_tier(status.name, tier)

    def _load_elf(self, spec: TenantSpec, result: BuildResult) -> dict:
        limits = _core.Limits()
        for key, value in spec.limits.items():
            setattr(limits, key, value)
        return self.server.load_tenant(spec.name, result.elf.read_bytes(), spec.hosts, limits,
                                       spec.default)

    def _publish_lock(self, name: str) -> threading.Lock:
        with self._lock:
            return self._publishing.setdefault(name, threading.Lock())

    def reload(self, name: str) -> TenantStatus:
        """Re-reads the tenant's folder and loads it again."""
        try:
            spec = load_tenant(Path(self.config.tenants_dir) / name)
        except (TenantConfigError, OSError) as e:
            status = self.tenants.get(name)
            if status:
                self._fail(status, str(e), None)
            else:
                self.note(name, f"error: {e}", event="error")
            raise LoadFailed(str(e)) from e
        return self.load(spec)

    def unload(self, name: str) -> bool:
        # Under the publish lock: a background swap must not bring it back.
        with self._publish_lock(name):
            removed = self.server.remove_tenant(name)
            with self._lock:
                self.tenants.pop(name, None)
        if removed:
            self.note(name, "unloaded", event="tenant_removed")
        self._update_readiness()
        return removed

    def _load_quietly(self, spec: TenantSpec) -> TenantStatus:
        try:
            return self.load(spec)
        except LoadFailed:
            return self.tenants[spec.name]

    def _status_for(self, spec: TenantSpec) -> TenantStatus:
        with self._lock:
            status = self.tenants.get(spec.name)
            if status is None:
                status = self.tenants[spec.name] = TenantStatus(spec.name, spec.hosts,
                                                                spec.default)
                self._pending.append(self.logs.event(spec.name, "tenant added", "tenant_added",
                                                     hosts=spec.hosts, default=spec.default))
            status.hosts, status.default = spec.hosts, spec.default
            return status

    def _fail(self, status: TenantStatus, message: str, log: Path | None,
              seconds: float | None = None) -> None:
        # A tenant that served before keeps serving its last good version.
        status.state = "serving" if status.version else "error"
        status.error, status.log_path = message, log
        suffix = f" (full log: {log})" if log else ""
        self.note(status.name, f"error: {message}{suffix}", event="build_failed", error=message,
                  log=str(log) if log else None, still_serving=status.version or None,
                  seconds=round(seconds, 3) if seconds is not None else None)
        self._update_readiness()

    # -- observation -------------------------------------------------------

    def stats(self) -> list[dict]:
        return self.server.stats()

    def drain_logs(self) -> list[LogRecord]:
        """Log records since the last call: tenants' output and engine events,
        with what was dropped of the tenants' output said in engine records."""
        self._drain_guest_logs()
        self._note_drops()
        with self._lock:
            records = list(self._pending)
            self._pending.clear()
        return records

    def _note_drops(self) -> None:
        """At most once a second: "[N bytes of output dropped ...]" for each
        tenant whose writes the log rate limit refused since, and the entries
        the full log queue lost, so the log shows that something is missing."""
        with self._lock:
            self._pending.extend(self.logs.flush_drops())
        now = time.monotonic()
        if not self._drops_lock.acquire(blocking=False):
            return  # another thread is at it
        try:
            if now - self._drops_checked < DROPS_EVERY_S:
                return
            self._drops_checked = now
            counts = {e["name"]: e.get("log_dropped", 0) for e in self.server.stats() if e["name"]}
            queue = self.server.dropped_logs
            for name, dropped in counts.items():
                before = self._log_dropped.get(name, 0)
                self._log_dropped[name] = dropped
                if dropped > before:
                    self.note(name, f"[{dropped - before:,} bytes of output dropped: "
                                    f"over the tenant's log rate]")
            if queue > self._queue_dropped:
                self.note("", f"[{queue - self._queue_dropped:,} log entries dropped: "
                              f"the log queue was full]")
            self._queue_dropped = queue
        finally:
            self._drops_lock.release()

    def _drain_guest_logs(self) -> None:
        chunks = self.server.drain_logs()
        with self._lock:
            for tenant, text in chunks:
                self._pending.extend(self.logs.feed(tenant, text))

    def note(self, tenant: str, text: str, event: str = "note", **fields) -> None:
        """Adds an engine event to the log (builds, loads, errors, the
        watcher's): `text` for people, `event` and `fields` for the JSON lines."""
        with self._lock:
            self._pending.append(self.logs.event(tenant, text, event, **fields))
