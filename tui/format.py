"""Small formatting helpers shared by the console's widgets and screens."""

from __future__ import annotations

import re
from pathlib import Path

from mtd.engine.safe_text import escape
from mtd.engine.units import duration_us, size  # noqa: F401 (size: for the widgets)

def shown_text(text: str) -> str:
    """Tenant or build text made safe to show (engine/safe_text.py): every
    piece of it the console displays goes through here (and into rich
    Text, never markup)."""
    return escape(text)


# BuildError messages: "tenant: app.py:LINE: message"
ERROR_LOCATION = re.compile(r"^(?P<tenant>[^:\s]+): (?P<file>[^:\s]+):(?P<line>\d+): (?P<message>.*)$")


# One unit style for the console, the log and bench (engine/units.py).
us = duration_us


def rate(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 or value == 0 else f"{value:.1f}"


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
