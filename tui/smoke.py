"""The console's HTTP client: after a reload, one GET to the tenant; and
the request an operator sends with `t`."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import httpx

from mtd.engine import Engine


_client: httpx.Client | None = None


def _shared_client() -> httpx.Client:
    # One client for the session: building one (its SSL context) costs more
    # than the request being timed.
    global _client
    if _client is None:
        _client = httpx.Client(trust_env=False)
    return _client


def smoke_get(engine: Engine, name: str, timeout: float = 5.0) -> tuple[str, dict]:
    """GET / as the tenant's first host (no Host header for a hostless
    default tenant); returns a log line such as "smoke: 200 in 1.2 ms" and
    its figures (the "smoke" event's fields)."""
    status = engine.tenants.get(name)
    headers = {"Host": status.hosts[0]} if status and status.hosts else {}
    address = "127.0.0.1" if engine.config.host in ("0.0.0.0", "") else engine.config.host
    client = _shared_client()
    started = time.perf_counter()
    try:
        response = client.get(f"http://{address}:{engine.port}/", headers=headers, timeout=timeout)
    except httpx.HTTPError as e:
        return f"smoke: failed: {e}", {}
    ms = (time.perf_counter() - started) * 1000
    return (f"smoke: {response.status_code} in {ms:.1f} ms ({len(response.content):,} bytes)",
            {"status": response.status_code, "ms": round(ms, 2), "bytes": len(response.content)})


@dataclass
class Answer:
    """What `t` (send a request) shows."""
    status: int | None = None
    reason: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    ms: float = 0.0
    error: str | None = None  # the request failed (connect, timeout): why


def send_request(engine: Engine, method: str, path: str, host: str, body: bytes,
                 timeout: float = 10.0) -> Answer:
    """One request to the engine's tenant port, Host as given (empty: none,
    so the default tenant answers)."""
    address = "127.0.0.1" if engine.config.host in ("0.0.0.0", "") else engine.config.host
    headers = {"Host": host} if host else {}
    started = time.perf_counter()
    try:
        response = _shared_client().request(method, f"http://{address}:{engine.port}{path}",
                                            headers=headers, content=body or None,
                                            timeout=timeout)
    except (httpx.HTTPError, ValueError) as e:  # ValueError: a method or path httpx refuses
        return Answer(error=f"{type(e).__name__}: {e}", ms=(time.perf_counter() - started) * 1000)
    return Answer(status=response.status_code, reason=response.reason_phrase,
                  headers=list(response.headers.items()), body=response.content,
                  ms=(time.perf_counter() - started) * 1000)
