"""How durations and sizes read, the same everywhere an operator sees them:
the console's tables, the log, `mtd-console bench`. Values in the engine's
dicts stay numbers with their unit in the key (`p99_us`); these turn them
into text."""

from __future__ import annotations


def duration_us(value: float | None) -> str:
    """A duration given in microseconds: "850.0 µs", "3.2 ms", "1.20 s"; "-"
    for none."""
    if value is None or value <= 0:
        return "-"
    if value >= 1_000_000:
        return f"{value / 1_000_000:.2f} s"
    if value >= 1000:
        return f"{value / 1000:.1f} ms"
    return f"{value:.1f} µs"


def size(n: float) -> str:
    """Bytes: "512 B", "4.0 KiB", "1.5 MiB"."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n}"
