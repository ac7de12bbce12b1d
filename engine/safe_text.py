"""Text that came from a tenant, made safe to show: what a tenant prints,
and what mtd repeats of its source (compiler messages quote it, the
console shows the line a build error names).

Tenants are hostile. Raw, their text could move the cursor, erase or
rewrite lines (CR, ESC sequences, backspace), switch the terminal's
character set or title, or reorder what is shown (Unicode bidi controls)
and so fake a line from the engine or from another tenant. Every display
path (headless text and JSON, the console's log, table and detail screen,
build errors) goes through escape() or lines() here."""

from __future__ import annotations

import re

# C0 controls but tab and newline, DEL, C1 controls (0x9b is CSI on its
# own), and the Unicode line/paragraph separators and bidi controls.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f"
                     "\u202a-\u202e\u2066-\u2069\ufeff]")
_NAMED = {"\r": "\\r", "\x1b": "\\x1b", "\x08": "\\b", "\x0b": "\\v", "\x0c": "\\f",
          "\x00": "\\0"}


def _visible(match: re.Match) -> str:
    char = match.group()
    return _NAMED.get(char) or (f"\\x{ord(char):02x}" if ord(char) < 0x100
                                else f"\\u{ord(char):04x}")


def escape(text: str) -> str:
    """text with every control character but \\n and \\t written out
    visibly: ESC as \\x1b, CR as \\r, U+202E as \\u202e."""
    return _UNSAFE.sub(_visible, text)


def one_line(text: str) -> str:
    """escape(), with newlines written as \\n too: for one-line messages."""
    return escape(text).replace("\n", "\\n")


def lines(prefix: str, text: str) -> list[str]:
    """text escaped and cut at its newlines, each line starting with prefix:
    a newline in tenant text cannot start a line that looks like someone
    else's."""
    return [prefix + line for line in escape(text).split("\n")]
