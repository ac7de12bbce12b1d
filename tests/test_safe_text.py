"""A tenant's text on the console (engine/safe_text.py): what it prints and
what mtd quotes of its source can neither rewrite nor fake a line. Control
characters come out escaped on every display path (headless text and JSON;
the Textual log is in test_tui.py), each line carries its own tenant's
prefix, and over-long lines and refused output are said to be dropped."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from mtd.engine import BuildError
from mtd.engine.logs import MAX_LINE, LogAssembler, LogRecord
from mtd.engine.safe_text import escape, lines, one_line
from mtd.engine.tenants import TenantConfigError, load_tenant
from mtd.tui.headless import format_json_record, format_record

from conftest import make_engine

# Every character no display path may let through raw.
UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e"
                    "\u2066-\u2069\ufeff]")

HOSTILE = [
    "\rmtd: [hello] loaded version 9 (cached build)",       # CR back over the prefix
    "\x1b[2K\x1b[1Gmtd: [hello] error: forged",              # erase the line, column 1
    "\x1b]0;pwned title\x07",                               # set the terminal's title
    "\x1b[31mred\x1b[0m \x1bc reset",                        # colours, full reset
    "\u009b2J C1 CSI",                                      # CSI as one C1 character
    "\u202emirrored\u202c and \u2066isolated\u2069",        # bidi overrides
    "back\bspace\x7f del \x00 nul",
    "vertical\vtab\fform\x85next\u2028line\u2029para",     # line breaks that are not \n
]
# The same, as the guest writes it (bytes): two lines per print, to check
# that a newline inside the text starts a line that is prefixed too.
HOSTILE_BYTES = b"".join(s.encode() + b"\nmtd: [hello] second line\n" for s in HOSTILE)


def assert_safe(text: str) -> None:
    found = UNSAFE.findall(text)
    assert not found, f"raw control characters {found!r} in {text!r}"


# -- the function ---------------------------------------------------------------

@pytest.mark.parametrize("hostile", HOSTILE)
def test_escape_leaves_no_control_character_but_newline_and_tab(hostile):
    assert_safe(escape(hostile))
    assert escape("a\tb\nc") == "a\tb\nc"
    assert_safe(one_line(hostile + "\nx")) and "\n" not in one_line(hostile + "\nx")


def test_escape_shows_what_was_there():
    assert escape("\x1b[2K\r\x9b\u202e") == "\\x1b[2K\\r\\x9b\\u202e"


def test_every_line_gets_the_prefix():
    assert lines("[t] ", "one\ntwo\r\n") == ["[t] one", "[t] two\\r", "[t] "]


# -- the log assembler: escaping at the source, and line length ---------------------

def test_assembler_escapes_and_splits_guest_text():
    records = LogAssembler().feed("evil", HOSTILE_BYTES.decode())
    assert len(records) == 2 * len(HOSTILE)
    for record in records:
        assert record.tenant == "evil" and record.kind == "guest"
        assert_safe(record.text)


def test_long_line_is_cut_and_the_drop_is_said():
    logs = LogAssembler()
    records = logs.feed("long", "x" * (MAX_LINE + 1000) + "\nnext\n")
    assert [r.text for r in records] == ["x" * MAX_LINE, "[1,000 bytes of a long line dropped]",
                                         "next"]
    assert [r.kind for r in records] == ["guest", "engine", "guest"]


def test_unended_long_line_is_dropped_and_said_as_it_goes():
    logs = LogAssembler()
    first = logs.feed("long", "y" * (MAX_LINE + 10))
    assert [r.text for r in first] == ["y" * MAX_LINE]
    assert logs.feed("long", "y" * 500) == []  # still the same line: dropped
    assert [r.text for r in logs.flush_drops()] == ["[510 bytes of a long line dropped]"]
    assert [r.text for r in logs.feed("long", "yy\nafter\n")] == [
        "[2 bytes of a long line dropped]", "after"]
    assert logs.flush_drops() == []


# -- each display path on its own, with raw text (as if it came another way) -------

RAW_RECORDS = [LogRecord("evil", text, kind) for text in HOSTILE + [HOSTILE_BYTES.decode()]
               for kind in ("guest", "engine")] + [LogRecord("bad\x1b[2J\rname", "x", "engine")]


def test_headless_text_escapes_and_prefixes_every_line_of_raw_records():
    for record in RAW_RECORDS:
        text = format_record(record)
        assert_safe(text.replace("\n", ""))
        prefix = ("mtd: " if record.kind == "engine" else "") + f"[{escape(record.tenant)}] "
        assert all(line.startswith(prefix) for line in text.split("\n")), text


def test_headless_json_escapes_raw_records():
    for record in RAW_RECORDS:
        line = format_json_record(record)
        assert "\n" not in line
        decoded = json.loads(line)
        assert_safe(decoded["text"].replace("\n", "")) and assert_safe(decoded["tenant"])


# -- tenant names ------------------------------------------------------------------

@pytest.mark.parametrize("name", ["bad\x1b[31m", "a] [b", "two\nlines", "-dash", "sp ace"])
def test_tenant_names_that_could_forge_a_prefix_are_refused(tmp_path, name):
    folder = tmp_path / name
    folder.mkdir()
    (folder / "app.py").write_text("def on_client_request():\n    return 'text/plain', 'x'\n")
    with pytest.raises(TenantConfigError, match="name must be letters, digits"):
        load_tenant(folder)


# -- through the engine and the headless formats ---------------------------------------

EVIL_CPP = r'''
#include <cstdio>
#include "mtd_guest.h"
static const char text[] = "%s";
int main() {
    std::fwrite(text, 1, sizeof text - 1, stdout);
    std::fflush(stdout);
    if (mtd_ready() != 0) return 0;
    std::fwrite(text, 1, sizeof text - 1, stdout);
    std::printf("REQUEST-DONE\n");
    std::fflush(stdout);
    mtd_respond(200, "text/plain", 10, "ok", 2);
}
'''


def c_string(data: bytes) -> str:
    """data as the inside of a C string literal (3-digit octal escapes)."""
    return "".join(f"\\{b:03o}" if b < 0x20 or b >= 0x7f or b in b'"\\?' else chr(b)
                   for b in data)


@pytest.fixture
def hostile_tenants(tmp_path) -> Path:
    root = tmp_path / "tenants"
    (root / "evil").mkdir(parents=True)
    (root / "evil" / "app.cpp").write_text(EVIL_CPP % c_string(HOSTILE_BYTES))
    (root / "evil" / "tenant.toml").write_text('hosts = ["evil.test"]\n')
    # A build error quotes the source line: with an escape sequence in it.
    (root / "quoted").mkdir()
    (root / "quoted" / "app.cpp").write_bytes(
        b'#error \x1b[2K\x08mtd: [hello] loaded \x1b]0;t\x07\nint main() {}\n')
    # A folder whose name would forge a prefix: refused, and said escaped.
    (root / "x\x1b[2Jy").mkdir()
    (root / "x\x1b[2Jy" / "app.py").write_text("def on_client_request():\n    return 'a', 'b'\n")
    return root


def check_text_lines(output: str) -> list[str]:
    """Headless text output: every line is the engine's, a tenant's with its
    prefix, or a stats line; returns evil's lines."""
    assert_safe(output.replace("\n", ""))
    evil = []
    for line in output.splitlines():
        if line.startswith("[evil] "):
            evil.append(line)
        else:
            assert re.match(r"mtd: |\d\d:\d\d:\d\d ", line), line
            assert "second line" not in line and "pwned" not in line, line
    return evil


def test_engine_records_and_headless_formats_are_safe(hostile_tenants, cache_dir):
    engine = make_engine(hostile_tenants, cache_dir)
    engine.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{engine.port}", timeout=10) as c:
            assert c.get("/", headers={"Host": "evil.test"}).text == "ok"
        deadline, records = time.monotonic() + 30, []
        while not any("REQUEST-DONE" in r.text for r in records):
            assert time.monotonic() < deadline, [r.text for r in records]
            records += engine.drain_logs()
            time.sleep(0.05)
    finally:
        engine.stop()
    text = "\n".join(format_record(r) for r in records)
    evil = check_text_lines(text)
    assert len([line for line in evil if "second line" in line]) == 2 * len(HOSTILE)
    assert any("\\x1b]0;pwned title\\x07" in line for line in evil)
    for record in records:
        line = format_json_record(record)
        assert_safe(line)
        decoded = json.loads(line)
        assert_safe(decoded["text"]) and assert_safe(decoded["tenant"])
    quoted = [r.text for r in records if r.tenant == "quoted" and r.text.startswith("error")]
    assert quoted and "\\x1b[2K\\bmtd: [hello] loaded \\x1b]0;t\\x07" in quoted[0]
    assert any("tenant config" in r.text and "x\\x1b[2Jy" in format_record(r) for r in records)


def test_build_error_quoting_tenant_source_is_escaped(builder, tmp_path):
    folder = tmp_path / "quoting"
    folder.mkdir()
    (folder / "app.cpp").write_bytes(b'#error "\x1b]0;title\x07\x1b[2J"\nint main() {}\n')
    with pytest.raises(BuildError) as info:
        builder.build(load_tenant(folder))
    assert_safe(str(info.value))
    assert str(info.value).startswith("quoting: app.cpp:1: C++ error: #error")
    assert "\\x1b]0;title\\x07" in str(info.value)


@pytest.mark.parametrize("json_lines", [False, True])
def test_headless_output_is_safe_and_prefixed(hostile_tenants, cache_dir, json_lines):
    argv = [sys.executable, "-m", "mtd.tui.main", "--no-tui", "--port", "0", "--threads", "1",
            "--admin-port", "-1", "--no-watch", "--tenants", str(hostile_tenants),
            "--cache-dir", str(cache_dir), *(["--json"] if json_lines else [])]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    seen = b""
    try:
        deadline = time.monotonic() + 180
        port = None
        while b"REQUEST-DONE" not in seen:
            assert time.monotonic() < deadline, seen.decode(errors="replace")
            line = proc.stdout.readline()
            assert line, seen.decode(errors="replace")
            seen += line
            found = re.search(rb"serving on http://127\.0\.0\.1:(\d+)/", line)
            if found and port is None:
                port = int(found.group(1))
                httpx.get(f"http://127.0.0.1:{port}/", headers={"Host": "evil.test"}, timeout=10)
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=30)
        seen += rest
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    output = seen.decode()
    if not json_lines:
        evil = check_text_lines(output)
        assert len([line for line in evil if "second line" in line]) == 2 * len(HOSTILE)
        return
    assert_safe(output.replace("\n", ""))
    logs = [json.loads(line) for line in output.splitlines()]
    logs = [entry for entry in logs if "text" in entry]
    assert logs
    for entry in logs:
        assert_safe(entry["text"]) and assert_safe(entry["tenant"])
        if "second line" in entry["text"] or "pwned" in entry["text"]:
            assert entry["tenant"] == "evil" and entry["kind"] == "guest"


# -- what is dropped is said ---------------------------------------------------------

FLOOD = r'''
#include <cstdio>
#include <cstring>
#include "mtd_guest.h"
int main() {
    if (mtd_ready() != 0) return 0;
    static char line[1024];
    std::memset(line, 'x', sizeof line - 1);
    line[sizeof line - 2] = '\n';
    for (int i = 0; i < 100; i++) std::fputs(line, stdout);
    std::fflush(stdout);
    mtd_respond(200, "text/plain", 10, "ok", 2);
}
'''


def test_output_refused_by_the_rate_limit_is_said_in_the_log(tmp_path, cache_dir):
    (tmp_path / "flood").mkdir()
    (tmp_path / "flood" / "app.cpp").write_text(FLOOD)
    (tmp_path / "flood" / "tenant.toml").write_text("default = true\n")
    engine = make_engine(tmp_path, cache_dir)
    engine.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{engine.port}", timeout=10) as c:
            for _ in range(8):  # 800 KB against a burst of 256 KiB
                assert c.get("/").text == "ok"
        deadline, said = time.monotonic() + 30, []
        while not said:
            assert time.monotonic() < deadline
            said = [r.text for r in engine.drain_logs()
                    if r.tenant == "flood" and r.kind == "engine" and "dropped" in r.text]
            time.sleep(0.1)
    finally:
        engine.stop()
    dropped = int(re.match(r"\[([\d,]+) bytes of output dropped", said[0]).group(1).replace(",", ""))
    assert dropped > 300_000
