"""Hoists the str literals of Pythran's generated C++ out of the code that
evaluates them, so each is built once, before ready, and a request only
takes a reference (guest/pythran_literals.hpp says how a shared literal
keeps behaving like the fresh buffer Pythran would have built).

Pythran writes every Python str literal as `pythonic::types::str("...")`,
and a one-character one, where it needs a str, as
`pythonic::types::str(pythonic::types::chr('c'))` (built through an
ostringstream: ~2,000 guest instructions). Each such expression becomes
`::mtd_literals::lN.get()`, and a definition
`static const ::mtd_pythran::literal lN("...");` (or `lN(1, 'c')`) with
the very same literal token goes at the top of the file: the token is
moved, never decoded or re-encoded, so its value is whatever the compiler
made of it before, escapes, UTF-8 and embedded NULs included. The
replacement is an expression of the same type and value category (a
prvalue str) in the same place, so it parses the same in any expression
context.

The generated code comes from a tenant's Python, so this must never change
what it means: the scan follows C++'s lexical rules for what it needs
(comments, string and character literals), rewrites only occurrences in a
context it recognises, and leaves the whole file alone at anything it does
not fully understand (raw or prefixed literals, line splices, trigraphs,
digraph directives, unterminated literals or comments). One linear regex
scan: milliseconds even for megabytes of C++."""

from __future__ import annotations

import re

PREFIX = "pythonic::types::str("
CHR_PREFIX = "pythonic::types::str(pythonic::types::chr("
NAMESPACE = "mtd_literals"
HEADER = "pythran_literals.hpp"

# One token of interest at a time; everything else in runs. Order matters:
# comments and literals before the catch-alls.
_TOKENS = re.compile(r"""
    (?P<string>"(?:[^"\\\n]|\\.)*")
  | (?P<char>'(?:[^'\\\n]|\\.)*')
  | (?P<line_comment>//[^\n]*)
  | (?P<block_comment>/\*.*?\*/)
  | (?P<code>[^"'/]+|/)
  """, re.X | re.S)

_DIRECTIVE = re.compile(r"^[ \t]*(?:#|%:)", re.M)
_IDENT_CHAR = re.compile(r"[A-Za-z0-9_$\\\x80-\U0010ffff]")
# What may stand before `pythonic::types::str(` for it to be an expression
# of its own (the last non-blank character): an operator or punctuator that
# ends an expression's left context. Not `.`, `->`, `::` (a member or a
# nested name), `)`, `]` or an identifier (a cast, a declaration, `new`...),
# except the keywords below.
_BEFORE_OK = set("(,={[?!&|+-*%<>;}^:")
_WORDS_OK = {"return", "throw"}


class Unchanged(Exception):
    """The file is left as it is; the message says why."""


def hoist_literals(cpp: str) -> tuple[str, int]:
    """(the rewritten C++, how many literal expressions it replaced).
    The C++ comes back unchanged, with 0, when there is nothing to do or
    anything about the file is not understood."""
    try:
        return _hoist(cpp)
    except Unchanged:
        return cpp, 0


def explain(cpp: str) -> str | None:
    """Why hoist_literals would leave cpp alone (None: it would not), for tests."""
    try:
        _hoist(cpp)
    except Unchanged as e:
        return str(e)
    return None


def _hoist(cpp: str) -> tuple[str, int]:
    if PREFIX not in cpp:  # CHR_PREFIX starts with it
        return cpp, 0
    if "\\\n" in cpp or "\r" in cpp:
        raise Unchanged("line splice or carriage return")
    if "??" in cpp:
        raise Unchanged("possible trigraph")
    # Lines that are (or might be: one inside a block comment) directives.
    directives = {m.start() for m in _DIRECTIVE.finditer(cpp)}
    literals: dict[str, int] = {}
    pieces: list[str] = []
    done = 0  # cpp[:done] is in pieces
    line_start = 0  # of the line the current token starts on
    expected = 0  # where the next token must start
    # Lazily, stopping at the first thing not understood: an unterminated
    # block comment costs one scan to the end, not one per `/*`.
    for tok in _TOKENS.finditer(cpp):
        kind, start = tok.lastgroup, tok.start()
        if start != expected:
            raise Unchanged("unrecognised text")  # an unterminated literal (a lone quote)
        expected = tok.end()
        if kind in ("code", "block_comment"):
            text = tok.group()
            if kind == "code":
                if text == "/" and cpp.startswith("/*", start):
                    raise Unchanged("unterminated comment")
                if "%:" in text:
                    raise Unchanged("digraph directive")
            newline = text.rfind("\n")
            if newline >= 0:
                line_start = start + newline + 1
            continue
        if kind in ("string", "char") and start > 0 and _IDENT_CHAR.match(cpp[start - 1]):
            raise Unchanged("prefixed literal or digit separator")
        if kind == "string":
            prefix, suffix, value = PREFIX, ")", tok.group()
        elif kind == "char":
            # A one-character str: Pythran builds it through an ostringstream.
            prefix, suffix, value = CHR_PREFIX, "))", f"1, {tok.group()}"
        else:
            continue
        end = tok.end()
        begin = start - len(prefix)
        if (not cpp.endswith(prefix, 0, start) or not cpp.startswith(suffix, end)
                or line_start in directives or not _expression_starts_at(cpp, begin)):
            continue
        index = literals.setdefault(value, len(literals))
        pieces.append(cpp[done:begin])
        pieces.append(f"::{NAMESPACE}::l{index}.get()")
        done = end + len(suffix)
    if expected != len(cpp):
        raise Unchanged("unrecognised text")
    if not literals:
        return cpp, 0
    pieces.append(cpp[done:])
    count = len(pieces) // 2
    definitions = "".join(f"static const ::mtd_pythran::literal l{index}({value});\n"
                          for value, index in literals.items())
    head = (f'#include "{HEADER}"\n'
            f"namespace {NAMESPACE} {{\n{definitions}}}\n"
            f"#line 1\n")
    return head + "".join(pieces), count


def _expression_starts_at(cpp: str, begin: int) -> bool:
    """Whether `pythonic::types::str(` at begin starts an expression of its
    own (see _BEFORE_OK). Looks back only over the blanks and the word just
    before it, so all calls together read each character at most twice."""
    j = begin
    while j > 0 and cpp[j - 1] in " \t\n":
        j -= 1
    if j == 0:
        return True
    before = cpp[j - 1]
    if _IDENT_CHAR.match(before):
        k = j
        while k > 0 and _IDENT_CHAR.match(cpp[k - 1]):
            k -= 1
        return cpp[k:j] in _WORDS_OK and (k == 0 or cpp[k - 1] not in ".>:")
    if before not in _BEFORE_OK:
        return False
    if before == ":" and j > 1 and cpp[j - 2] == ":":
        return False  # a nested name: X::pythonic::...
    if before == ">" and j > 1 and cpp[j - 2] == "-":
        return False  # a member: p->pythonic::...
    return True
