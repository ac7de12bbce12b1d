"""Takes each new tenant version up the execution tiers in the background,
one version at a time, while it serves. A version's tier (TenantStatus.tier,
/stats, /metrics, the console) moves along:

  optimising   a quick build (build.QUICK_FLAGS) serves on the interpreter
               while the optimised one is built; that one then replaces it
               between two requests, as a hot swap does (on_init runs again)
  interpreted  the optimised build serves on the interpreter
  translating  the code its warm-up request ran is compiled (translate.py)
  translated   requests run that code translated, the rest interpreted
  failed       the optimised build or the translation failed: the log says
               why and the interpreter keeps serving what it has

A version replaced before its turn is skipped; once replaced, its build or
compile in progress is killed (build_sandbox.cancel_when), and an optimised
build done after a newer version was published is dropped
(Engine.swap_build checks under the tenant's publish lock)."""

from __future__ import annotations

import queue
import threading
import time

from . import build_sandbox
from .build import BuildError, BuildResult
from .tenants import TenantSpec
from .translate import compile_translation


class TierWorker:
    def __init__(self, engine, translate: bool):
        self.engine = engine
        self.translate = translate
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._pending = 0  # jobs submitted and not yet done
        self._pending_changed = threading.Condition()
        self._stopped = False
        # A daemon: quitting never waits for a compile (the sandbox dies
        # with this process).
        threading.Thread(target=self._run, name="mtd-tiers", daemon=True).start()

    def submit(self, spec: TenantSpec, version: int, build: BuildResult) -> None:
        with self._pending_changed:
            self._pending += 1
        self._jobs.put((spec, version, build))

    def idle(self) -> bool:
        """True when every version submitted has gone as far as it will."""
        with self._pending_changed:
            return self._pending == 0

    def wait_idle(self, timeout_s: float | None = None) -> bool:
        """Waits until idle() (False if timeout_s passed first)."""
        with self._pending_changed:
            return self._pending_changed.wait_for(lambda: self._pending == 0, timeout_s)

    def stop(self) -> None:
        self._stopped = True  # the step running is killed, versions waiting are dropped
        self._jobs.put(None)

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            spec, version, build = job
            try:
                if self._replaced(spec.name, version):
                    continue  # replaced before its turn (finally still counts it done)
                with build_sandbox.cancel_when(lambda: self._replaced(spec.name, version)):
                    if build.optimised or self._optimise(spec, version, build):
                        if self.translate:
                            self._translate(spec.name, version)
            except build_sandbox.Cancelled:
                pass  # a newer version was published: its own job follows
            finally:
                with self._pending_changed:
                    self._pending -= 1
                    self._pending_changed.notify_all()

    def _replaced(self, name: str, version: int) -> bool:
        return self._stopped or self.engine.serving(name, version) is None

    def _optimise(self, spec: TenantSpec, version: int, quick: BuildResult) -> bool:
        """Builds the optimised ELF of the source the quick build compiled
        and swaps it in. False if it failed or the version was replaced."""
        engine = self.engine
        started = time.monotonic()
        try:
            built = engine.builder.build(spec, source=quick.source)
            swapped = engine.swap_build(spec, version, built)
        except build_sandbox.Cancelled:
            raise
        except Exception as e:  # whatever it was, the quick build goes on serving
            if engine.set_tier(spec.name, version, "failed"):
                why = str(e) if isinstance(e, BuildError) else f"{type(e).__name__}: {e}"
                suffix = f" (full log: {e.log})" if isinstance(e, BuildError) and e.log else ""
                engine.note(spec.name, f"error: optimised build failed, the quick build keeps serving: "
                                       f"{why}{suffix}", event="optimised", tier="failed",
                            version=version, seconds=round(time.monotonic() - started, 3))
            return False
        return swapped

    def _translate(self, name: str, version: int) -> None:
        engine = self.engine
        program = engine.server.program(name)
        if program is None or not engine.set_tier(name, version, "translating"):
            return  # replaced or removed meanwhile
        started = time.monotonic()
        try:
            source = program.translation_source()
            if not source["source"]:
                engine.set_tier(name, version, "interpreted")
                engine.note(name, "nothing to translate: it stays interpreted", event="translation",
                            tier="interpreted", version=version)
                return
            compiled = compile_translation(source["source"], engine.config.cache_dir)
            program.attach_translation(str(compiled.path))
        except build_sandbox.Cancelled:
            raise
        except Exception as e:  # the interpreter goes on serving
            engine.set_tier(name, version, "failed")
            engine.note(name, f"error: translation failed, it stays interpreted: {type(e).__name__}: {e}",
                        event="translation", tier="failed", version=version,
                        seconds=round(time.monotonic() - started, 3))
            return
        engine.set_tier(name, version, "translated")
        how = "cached" if compiled.cached else f"compiled in {compiled.seconds:.1f} s"
        engine.note(name, f"version {version} translated: {source['instructions']:,} instructions "
                          f"from {source['entries']:,} entries ({how})",
                    event="translation", tier="translated", version=version,
                    seconds=round(time.monotonic() - started, 3))
