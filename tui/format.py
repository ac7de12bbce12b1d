"""Small formatting helpers shared by the console's widgets and screens."""

from __future__ import annotations

import re
from pathlib import Path

# BuildError messages: "tenant: app.py:LINE: message"
ERROR_LOCATION = re.compile(r"^(?P<tenant>[^:\s]+): (?P<file>[^:\s]+):(?P<line>\d+): (?P<message>.*)$")


def us(value: float | None) -> str:
    """A latency in microseconds, readable at a glance."""
    if value is None or value <= 0:
        return "-"
    if value >= 1_000_000:
        return f"{value / 1_000_000:.2f} s"
    if value >= 1000:
        return f"{value / 1000:.1f} ms"
    return f"{value:.1f} µs"


def rate(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 or value == 0 else f"{value:.1f}"


def size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n}"


def error_source(error: str, tenant_dir: Path) -> tuple[Path, int, str] | None:
    """For "tenant: app.py:LINE: message", the file, the line number and that
    line's text; None when the error names no line or the file is gone."""
    match = ERROR_LOCATION.match(error or "")
    if not match:
        return None
    path = tenant_dir / match["file"]
    line = int(match["line"])
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return None
    if not 1 <= line <= len(lines):
        return None
    return path, line, lines[line - 1]
