"""The server owns HTTP framing: nothing a tenant answers can make a client
read the tenant's bytes as another response.

A client frames a response by the request it sent and the status it got
(RFC 9112 §6.3): no content after 1xx, 204, 304 or any answer to HEAD, a
tunnel after a 2xx to CONNECT, Content-Length bytes otherwise. Each test
here has tenant A ("forger", tests/guest_tenants/framing.cpp, which answers
the status, content type and body bytes the request's x-answer header asks
for) answer on ONE keep-alive connection, then asks tenant B ("victim") for
its page on the same connection, and parses the whole stream with h11, a
strict RFC 9112 client. B's answer must be B's page, A's must be framed as
the server decided, no forged byte may reach the client, and every refusal
(502 bad_response) must move A's bad_response counter. Requests go one
after the other and pipelined (all in one write).
"""

from __future__ import annotations

import re
import socket
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

import h11
import pytest

from conftest import REPO, make_engine
from test_limits import add_tenant

GUEST_TENANTS = Path(__file__).resolve().parent / "guest_tenants"

# A complete response that a client would take for the next one if it read
# past the end of A's.
FORGED = b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nforged"
VICTIM_PAGE = b"victim's real page\n"
VICTIM = r"""
#include "mtd_guest.h"
int main() {
    if (mtd_ready() != 0) return 0;
    mtd_respond(200, "text/plain", 10, "victim's real page\n", 19);
}
"""
FORGER_HOST, VICTIM_HOST = "forger.test", "victim.test"


@pytest.fixture(scope="module")
def framing_engine(tmp_path_factory, cache_dir):
    root = tmp_path_factory.mktemp("framing-tenants")
    add_tenant(root, "forger", (GUEST_TENANTS / "framing.cpp").read_text(), toml=f'hosts = ["{FORGER_HOST}"]\n')
    add_tenant(root, "victim", VICTIM, toml=f'hosts = ["{VICTIM_HOST}"]\n')
    engine = make_engine(root, cache_dir)
    engine.start()
    yield engine
    engine.stop()


def bad_responses(engine, tenant="forger") -> int:
    return next(s for s in engine.stats() if s["name"] == tenant)["errors"]["bad_response"]


def answer(status: int, content_type: bytes = b"text/plain", body: bytes = FORGED) -> str:
    """The x-answer header that makes the forger answer exactly this."""
    return f"{status} {content_type.hex() or '-'} {body.hex() or '-'}"


@dataclass
class Ask:
    method: str
    host: str
    x_answer: str | None = None

    @property
    def target(self) -> str:
        return f"{self.host}:443" if self.method == "CONNECT" else "/"

    def event(self) -> h11.Request:
        headers = [("Host", self.host)] + ([("x-answer", self.x_answer)] if self.x_answer else [])
        return h11.Request(method=self.method, target=self.target, headers=headers)


@dataclass
class Got:
    status: int
    headers: dict[bytes, bytes]
    body: bytes = b""
    tunnel: bool = False  # the client took the connection for a tunnel

    @property
    def text(self) -> str:
        return self.body.decode("latin-1")


@dataclass
class Exchange:
    answers: list[Got]
    raw: bytes  # every byte the server sent
    trailing: bytes  # what came after the last answer


def request_bytes(ask: Ask) -> bytes:
    c = h11.Connection(h11.CLIENT)
    return c.send(ask.event()) + c.send(h11.EndOfMessage())


def exchange(port: int, asks: list[Ask], pipelined: bool) -> Exchange:
    """Sends `asks` on one connection (each after the previous answer, or
    all in one write), half-closes, reads to the server's close and parses
    the answers as an RFC 9112 client that sent those requests."""
    parser = h11.Connection(h11.CLIENT)
    raw = bytearray()
    answers: list[Got] = []
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        def recv() -> bytes:
            data = s.recv(65536)
            raw.extend(data)
            return data

        writer = None
        if pipelined:  # from a thread: the answers may fill the socket buffers first
            def write_all():
                s.sendall(b"".join(request_bytes(a) for a in asks))
                s.shutdown(socket.SHUT_WR)
            writer = threading.Thread(target=write_all)
            writer.start()
        for i, ask in enumerate(asks):
            if not pipelined:
                s.sendall(request_bytes(ask))
                if i == len(asks) - 1:
                    s.shutdown(socket.SHUT_WR)
            parser.send(ask.event())
            parser.send(h11.EndOfMessage())
            got = None
            while True:
                event = parser.next_event()
                if event is h11.NEED_DATA:
                    parser.receive_data(recv())
                elif isinstance(event, h11.Response):
                    got = Got(event.status_code, {k.lower(): v for k, v in event.headers})
                elif isinstance(event, h11.Data):
                    got.body += event.data
                elif isinstance(event, h11.EndOfMessage):
                    break
                elif event is h11.PAUSED and parser.our_state is h11.SWITCHED_PROTOCOL:
                    got.tunnel = True
                    break
                else:
                    raise AssertionError(f"answer {i}: unexpected {event!r}")
            answers.append(got)
            if got.tunnel:  # no use asking more: the client would not
                if not pipelined and i < len(asks) - 1:
                    s.shutdown(socket.SHUT_WR)
                break
            parser.start_next_cycle()
        rest = bytearray()
        while data := recv():  # the server closes after our half-close
            rest += data
        if writer:
            writer.join(10)
    return Exchange(answers, bytes(raw), parser.trailing_data[0] + bytes(rest))


def assert_refused(got: Got, why: str = ""):
    assert got.status == 502, (got.status, got.headers, got.body)
    assert not got.tunnel
    assert got.text.startswith("mtd: bad_response: " + why), got.text
    assert got.text.endswith("\n") and got.text.count("\n") == 1, got.text
    assert int(got.headers[b"content-length"]) == len(got.body)


def assert_victim_served(result: Exchange, method: str = "GET", forged_as_content: int = 0):
    """B got its own page, every byte sent belongs to a parsed response,
    and the forged response was sent only as `forged_as_content` answers'
    framed content."""
    victim = result.answers[-1]
    assert (victim.status, victim.tunnel) == (200, False), victim
    assert victim.body == (b"" if method == "HEAD" else VICTIM_PAGE)
    assert result.trailing == b""
    assert result.raw.count(b"forged") == forged_as_content, result.raw
    assert sum(got.body == FORGED for got in result.answers) == forged_as_content


MODES = pytest.mark.parametrize("pipelined", [False, True], ids=["sequential", "pipelined"])


# ---- statuses whose responses carry no content


@MODES
@pytest.mark.parametrize("method", ["GET", "POST", "HEAD"])
@pytest.mark.parametrize("status", [204, 205, 304])
def test_bodiless_status_with_a_body_is_refused(framing_engine, status, method, pipelined):
    """204 and 304 have no content: a client skips a body sent with them and
    reads it as the next response, here a forged one "for" the victim. 205
    must have none either. Whatever the method, the answer is a 502."""
    before = bad_responses(framing_engine)
    result = exchange(framing_engine.port, [Ask(method, FORGER_HOST, answer(status)),
                                            Ask(method, VICTIM_HOST)], pipelined)
    refused, _ = result.answers
    assert refused.status == 502
    if method == "HEAD":
        assert refused.body == b""
        assert int(refused.headers[b"content-length"]) > 0  # the error's length, nothing sent
    else:
        assert_refused(refused, f"guest answered {status} with a body")
    assert_victim_served(result, method)
    assert bad_responses(framing_engine) == before + 1


@MODES
@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("status", [204, 304])
def test_bodiless_status_goes_out_without_length_or_content(framing_engine, status, method, pipelined):
    """An empty 204 or 304 is sent without Content-Length (RFC 9110 §8.6:
    never on 204; on 304 it would have to be a 200's length) and without
    Transfer-Encoding, and the connection stays usable."""
    before = bad_responses(framing_engine)
    result = exchange(framing_engine.port, [Ask(method, FORGER_HOST, answer(status, body=b"")),
                                            Ask(method, VICTIM_HOST)], pipelined)
    sent, _ = result.answers
    assert (sent.status, sent.body) == (status, b"")
    assert b"content-length" not in sent.headers and b"transfer-encoding" not in sent.headers
    assert sent.headers[b"content-type"] == b"text/plain"
    head = result.raw.split(b"\r\n\r\n", 1)[0]
    assert head.startswith(b"HTTP/1.1 %d " % status) and b"content-length" not in head.lower()
    assert sent.headers[b"connection"] == b"keep-alive"
    assert_victim_served(result, method)
    assert bad_responses(framing_engine) == before


def test_empty_205_says_content_length_zero(framing_engine):
    """RFC 9110 §15.3.6: a 205 has no content and says so with
    "Content-Length: 0" (its framing is the ordinary one)."""
    result = exchange(framing_engine.port, [Ask("GET", FORGER_HOST, answer(205, body=b"")),
                                            Ask("GET", VICTIM_HOST)], pipelined=False)
    sent, _ = result.answers
    assert (sent.status, sent.body, sent.headers[b"content-length"]) == (205, b"", b"0")
    assert_victim_served(result)


# ---- HEAD


@MODES
@pytest.mark.parametrize("status", [200, 201, 299, 404, 503])
def test_head_gets_the_length_and_no_bytes(framing_engine, status, pipelined):
    """An answer to HEAD never has content: the server sends the length the
    guest's body has (what GET would get) and not one byte of it."""
    result = exchange(framing_engine.port, [Ask("HEAD", FORGER_HOST, answer(status)),
                                            Ask("GET", VICTIM_HOST)], pipelined)
    head, _ = result.answers
    assert (head.status, head.body) == (status, b"")
    assert int(head.headers[b"content-length"]) == len(FORGED)
    assert_victim_served(result)


@MODES
def test_head_with_empty_body_has_no_length(framing_engine, pipelined):
    """A guest that leaves the body out for HEAD gets no Content-Length: the
    GET's length is unknown, and a wrong one is forbidden (§8.6)."""
    result = exchange(framing_engine.port, [Ask("HEAD", FORGER_HOST, answer(200, body=b"")),
                                            Ask("HEAD", VICTIM_HOST)], pipelined)
    head, victim = result.answers
    assert (head.status, head.body) == (200, b"")
    assert b"content-length" not in head.headers and b"transfer-encoding" not in head.headers
    assert int(victim.headers[b"content-length"]) == len(VICTIM_PAGE)
    assert_victim_served(result, "HEAD")


# ---- CONNECT


@MODES
@pytest.mark.parametrize("status, body", [(200, FORGED), (200, b""), (204, b""), (299, FORGED)])
def test_connect_answered_2xx_is_refused(framing_engine, status, body, pipelined):
    """H2O hands CONNECT to the tenant. A 2xx to CONNECT makes the client
    treat the connection as a tunnel to the host it asked for (RFC 9112
    §6.3), so the guest's bytes, and the server's next answers, would be
    that host's: refused, and the connection stays HTTP."""
    before = bad_responses(framing_engine)
    result = exchange(framing_engine.port, [Ask("CONNECT", FORGER_HOST, answer(status, body=body)),
                                            Ask("GET", VICTIM_HOST)], pipelined)
    assert_refused(result.answers[0], "guest answered 2xx to CONNECT")
    assert_victim_served(result)
    assert bad_responses(framing_engine) == before + 1


@MODES
@pytest.mark.parametrize("status", [403, 405, 407, 502])
def test_connect_answered_otherwise_is_framed_by_length(framing_engine, status, pipelined):
    result = exchange(framing_engine.port, [Ask("CONNECT", FORGER_HOST, answer(status)),
                                            Ask("GET", VICTIM_HOST)], pipelined)
    sent, _ = result.answers
    assert (sent.status, sent.tunnel, sent.body) == (status, False, FORGED)
    assert int(sent.headers[b"content-length"]) == len(FORGED)
    assert_victim_served(result, forged_as_content=1)


# ---- status codes


BAD_STATUSES = [100, 101, 102, 103, 150, 199, 600, 999, 1000, 0, -1, -200, -204,
                2**31 - 1, -2**31, 2**32 + 200, 2**32 + 204, 2**63 - 1, -2**63, 2**64 - 204]


@MODES
def test_status_outside_200_to_599_is_refused(framing_engine, pipelined):
    """1xx would be an interim answer with ours after it (101: a switch of
    protocols); 600 and up, 0 and negatives are not HTTP. The status is a
    64-bit register: 2^32 + 204 must not pass for 204."""
    before = bad_responses(framing_engine)
    asks = [Ask("GET", FORGER_HOST, answer(status)) for status in BAD_STATUSES]
    result = exchange(framing_engine.port, asks + [Ask("GET", VICTIM_HOST)], pipelined)
    for status, got in zip(BAD_STATUSES, result.answers):
        assert_refused(got, "guest answered a status outside 200-599")
    assert_victim_served(result)
    assert bad_responses(framing_engine) == before + len(BAD_STATUSES)


# cpp/server/request_handler.cpp's reason_phrase(); every other code gets none.
REASONS = {200: "OK", 201: "Created", 202: "Accepted", 204: "No Content", 301: "Moved Permanently",
           302: "Found", 303: "See Other", 304: "Not Modified", 307: "Temporary Redirect",
           308: "Permanent Redirect", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
           404: "Not Found", 405: "Method Not Allowed", 409: "Conflict", 413: "Payload Too Large",
           429: "Too Many Requests", 500: "Internal Server Error", 501: "Not Implemented",
           502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout",
           507: "Insufficient Storage"}


def test_every_status_from_200_to_599_goes_out_with_the_servers_reason(framing_engine):
    """The guest picks the code only; the status line is the server's."""
    statuses = list(range(200, 600))
    bodiless = (204, 205, 304)
    asks = [Ask("GET", FORGER_HOST, answer(s, body=b"" if s in bodiless else b"x")) for s in statuses]
    result = exchange(framing_engine.port, asks + [Ask("GET", VICTIM_HOST)], pipelined=True)
    for status, got in zip(statuses, result.answers):
        assert (got.status, got.body) == (status, b"" if status in bodiless else b"x")
    status_lines = re.findall(rb"HTTP/1\.1 [^\r\n]*", result.raw)
    assert status_lines[:-1] == [f"HTTP/1.1 {s} {REASONS.get(s, '')}".encode() for s in statuses]
    assert_victim_served(result)


# ---- content type


def field_value_allowed(value: bytes) -> bool:
    """The rule (cpp/server/response_check.hpp): visible ASCII, SP and HTAB
    only between visible characters; empty means no header."""
    visible = lambda b: 0x21 <= b <= 0x7e
    if not value:
        return True
    return (visible(value[0]) and visible(value[-1])
            and all(visible(b) or b in (0x20, 0x09) for b in value))


def content_type_cases() -> list[bytes]:
    # Every byte value first, inside and last: the rule depends on nothing else.
    return [bytes([b]) + b"text/plain" for b in range(256)] + \
           [b"text/" + bytes([b]) + b"plain" for b in range(256)] + \
           [b"text/plain" + bytes([b]) for b in range(256)]


@pytest.mark.parametrize("pipelined", [True], ids=["pipelined"])
def test_content_type_is_a_strict_field_value(framing_engine, pipelined):
    cases = content_type_cases()
    before = bad_responses(framing_engine)
    result = exchange(framing_engine.port,
                      [Ask("GET", FORGER_HOST, answer(200, ct, b"body")) for ct in cases]
                      + [Ask("GET", VICTIM_HOST)], pipelined)
    refused = 0
    for ct, got in zip(cases, result.answers):
        if field_value_allowed(ct):
            assert (got.status, got.headers[b"content-type"], got.body) == (200, ct, b"body"), ct
        else:
            assert_refused(got, "guest content type ")
            refused += 1
    # First and last, every byte but the 94 visible ones; inside, SP and HTAB pass too.
    assert refused == 162 + 160 + 162
    assert_victim_served(result)
    assert bad_responses(framing_engine) == before + refused


INJECTIONS = [
    b"text/plain\r\nContent-Length: 0\r\n\r\n" + FORGED,   # response splitting
    b"text/plain\r\n\r\n" + FORGED,
    b"text/plain\nContent-Length: 0\n\n" + FORGED,         # bare LF, which lenient parsers split on
    b"text/plain\rContent-Length: 0\r\r" + FORGED,         # bare CR
    b"text/plain\r\n Transfer-Encoding: chunked",          # obsolete line folding
    b"text/plain\x00\r\nContent-Length: 0\r\n\r\n" + FORGED,
    b"text/plain\x0bforged", b"text/plain\x7fforged", b"text/\xc3\xa9forged",
    b" text/plain forged ", b"\ttext/plain forged",
]


@MODES
@pytest.mark.parametrize("content_type", INJECTIONS, ids=range(len(INJECTIONS)))
def test_content_type_cannot_inject_headers_or_responses(framing_engine, content_type, pipelined):
    before = bad_responses(framing_engine)
    result = exchange(framing_engine.port, [Ask("GET", FORGER_HOST, answer(200, content_type, b"")),
                                            Ask("GET", VICTIM_HOST)], pipelined)
    assert_refused(result.answers[0], "guest content type ")
    assert_victim_served(result)
    assert bad_responses(framing_engine) == before + 1


# ---- error answers


@MODES
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_error_answers_are_framed_by_the_server(framing_engine, method, pipelined):
    """The server's own error answers (here a bad_response, whose reason
    the guest picked) are a fixed header and the reason as content, framed
    by Content-Length: sent whole for GET, only their length for HEAD."""
    result = exchange(framing_engine.port, [Ask(method, FORGER_HOST, answer(204)),
                                            Ask(method, FORGER_HOST, answer(-1)),
                                            Ask(method, VICTIM_HOST)], pipelined)
    for got in result.answers[:2]:
        assert got.status == 502
        assert got.headers[b"content-type"] == b"text/plain; charset=utf-8"
        if method == "HEAD":
            assert got.body == b"" and int(got.headers[b"content-length"]) > 0
        else:
            assert_refused(got)
    assert_victim_served(result, method)


# ---- the checks themselves


def test_response_check_unit(tmp_path):
    """cpp/server/response_check.cpp on its own, natively: every byte of a
    field value and the header-name rules a future header ABI will use."""
    exe = tmp_path / "response_check_test"
    subprocess.run(["g++", "-std=c++20", "-O1", "-Wall", "-Wextra", "-Werror", f"-I{REPO / 'cpp'}",
                    str(REPO / "tests" / "native" / "response_check_test.cpp"),
                    str(REPO / "cpp" / "server" / "response_check.cpp"), "-o", str(exe)],
                   check=True, capture_output=True, timeout=120)
    out = subprocess.run([str(exe)], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.startswith("ok ")
