"""Pythran str literals built once before ready (engine/literals.py rewrites
the generated C++, engine/guest/pythran_literals.hpp keeps a shared literal
from being written): fewer guest instructions per request, the same answers."""

from __future__ import annotations

import importlib.util
import re
import subprocess
from pathlib import Path

import pytest

from mtd import _core
from mtd.engine import Builder
from mtd.engine import build as build_module
from mtd.engine.literals import explain, hoist_literals
from mtd.engine.tenants import load_tenant

from conftest import SEED_PAGE

LITERALS_APP = Path(__file__).resolve().parent / "guest_tenants" / "literals.py"


# ---- hello: the target

def test_hello_answers_in_at_most_80_guest_instructions(bundled_elves):
    program = _core.Program(bundled_elves["hello"].read_bytes())
    machine = _core.Machine()
    for _ in range(5):  # the same on every fork
        r = machine.request(program)
        assert r["outcome"] == "responded", r["reason"]
        assert (r["status"], r["content_type"], r["body"]) == (200, b"text/plain", SEED_PAGE)
        assert r["instructions"] <= 80, r["instructions"]  # 265 before literals were hoisted


# ---- a tenant with literals in every shape, built with and without hoisting

def _load_literals_module():
    spec = importlib.util.spec_from_file_location("literals_app", LITERALS_APP)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


LITERALS = _load_literals_module()
PATHS = ([f"/py/{name}" for name in LITERALS.SHAPES]
         + ["/pythran/aliased", "/pythran/nul", "/pythran/identity", "/all", "/nowhere"])
# Bodies that change from one request to the next: a request that left a
# literal changed would show in the next one's answer.
BODIES = ["body", "", "b\u00e9d \"q\" \\", "body"]


@pytest.fixture(scope="module")
def literal_builds(tmp_path_factory):
    """{"hoisted": elf, "plain": elf}: the literals tenant built as usual and
    built with the hoisting pass turned off (each in a cache of its own)."""
    root = tmp_path_factory.mktemp("literals")
    (root / "literals").mkdir()
    (root / "literals" / "app.py").write_bytes(LITERALS_APP.read_bytes())
    spec = load_tenant(root / "literals")
    hoisted = Builder(root / "cache-hoisted").build(spec).elf
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(build_module, "hoist_literals", lambda cpp: (cpp, 0))
        plain = Builder(root / "cache-plain").build(spec).elf
    return {"hoisted": hoisted, "plain": plain}


def test_the_literals_tenant_is_hoisted(literal_builds):
    hoisted = (literal_builds["hoisted"].parent / "app.cpp").read_text(errors="replace")
    plain = (literal_builds["plain"].parent / "app.cpp").read_text(errors="replace")
    assert len(re.findall(r"::mtd_literals::l\d+\.get\(\)", hoisted)) > 100
    assert "mtd_literals" not in plain


def test_hoisting_rewrites_nothing_but_the_literal_expressions(literal_builds):
    """Putting each literal expression back gives Pythran's output exactly."""
    hoisted = (literal_builds["hoisted"].parent / "app.cpp").read_bytes().decode(
        "utf-8", "surrogateescape")
    plain = (literal_builds["plain"].parent / "app.cpp").read_bytes().decode(
        "utf-8", "surrogateescape")
    assert _unhoist(hoisted) == plain


def _unhoist(cpp: str) -> str:
    head, body = cpp.split("#line 1\n", 1)
    values = dict(re.findall(r"^static const ::mtd_pythran::literal l(\d+)\((.*)\);$", head, re.M))

    def back(m):
        value = values[m.group(1)]
        if value.startswith("1, '"):
            return f"pythonic::types::str(pythonic::types::chr({value[3:]}))"
        return f"pythonic::types::str({value})"
    return re.sub(r"::mtd_literals::l(\d+)\.get\(\)", back, body)


def test_every_literal_shape_answers_as_without_hoisting(literal_builds):
    programs = {k: _core.Program(elf.read_bytes()) for k, elf in literal_builds.items()}
    machines = {k: _core.Machine() for k in programs}  # one machine each, many requests
    fewer = 0
    for body in BODIES:
        for path in PATHS:
            r = {k: machines[k].request(programs[k], method="POST", path=path, body=body)
                 for k in programs}
            for k in r:
                assert r[k]["outcome"] == "responded", (k, path, r[k]["reason"])
            assert (r["hoisted"]["status"], r["hoisted"]["body"]) == \
                (r["plain"]["status"], r["plain"]["body"]), (path, body)
            fewer += r["hoisted"]["instructions"] < r["plain"]["instructions"]
    assert fewer == len(BODIES) * len(PATHS)


# Where Pythran's str agrees with CPython's: not "unicode" (Pythran's str is
# bytes, and a one-character literal is one byte) nor "methods" (its
# upper()/lower() write the string they are called on).
CPYTHON_SHAPES = [s for s in LITERALS.SHAPES if s not in ("unicode", "methods")]


def test_literal_shapes_answer_as_cpython(literal_builds):
    program = _core.Program(literal_builds["hoisted"].read_bytes())
    machine = _core.Machine()
    for body in ["body", "", 'a "quoted" \\ body', "body"]:
        for name in CPYTHON_SHAPES:
            expected = LITERALS.on_client_request("POST", f"/py/{name}", {}, body)
            r = machine.request(program, method="POST", path=f"/py/{name}", body=body)
            assert r["outcome"] == "responded", r["reason"]
            assert (r["status"], r["body"].decode()) == (expected[0], expected[2]), (name, body)


def test_pythran_meanings_are_kept(literal_builds):
    """What Pythran makes of these differs from CPython; hoisting keeps it."""
    program = _core.Program(literal_builds["hoisted"].read_bytes())
    machine = _core.Machine()
    for _ in range(2):
        # a str copied before it is changed in place shares the change
        assert machine.request(program, path="/pythran/aliased", body="+")["body"] == \
            b"alias+ | alias+ | item+ | item+"
        # a literal's text ends at an embedded NUL (Pythran folds s + str(len(s))
        # into one literal, "before\0after12", so that ends there too)
        assert machine.request(program, path="/pythran/nul", body="+")["body"] == b"before+"
        # two evaluations of a literal are two objects
        assert machine.request(program, path="/pythran/identity", body="+")["body"] == b"False+"


def test_literals_tenant_standalone_matches_qemu(qemu, literal_builds):
    elf = literal_builds["hoisted"]
    ours = _core.run_elf(elf.read_bytes(), ["app"])
    ref = subprocess.run([qemu, str(elf)], capture_output=True, timeout=120)
    assert ours["outcome"] == "exited", ours["reason"]
    assert (ours["exit_code"], ours["stdout"]) == (ref.returncode, ref.stdout)
    assert ours["stdout"] == b"404 text/plain\n\nno such path: /"


# ---- tenant text that looks like C++ to a careless pass

HOSTILE = r'''
def on_client_request():
    a = 'pythonic::types::str("x")'
    b = "*/ // /* \" ' R\"(raw)\" %: u8\"y\" pythonic::types::str(pythonic::types::chr('c'))"
    c = "tail\\"
    d = "line\nbreak\ttab\x01"
    return "text/plain", a + " | " + b + " | " + c + " | " + d + " | " + 'pythonic::types::str("x")'
'''
TRIGRAPH = HOSTILE.replace("tail\\\\", "tail??/")


@pytest.mark.parametrize("source,hoisted", [(HOSTILE, True), (TRIGRAPH, False)],
                         ids=["cpp-looking-text", "trigraph-left-alone"])
def test_hostile_literals_keep_their_meaning(tmp_path, builder, source, hoisted):
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "app.py").write_text(source)
    elf = builder.build(load_tenant(tmp_path / "t")).elf
    cpp = (elf.parent / "app.cpp").read_text()
    assert ("::mtd_literals::" in cpp) == hoisted
    namespace: dict = {}
    exec(compile(source, "app.py", "exec"), namespace)
    expected = namespace["on_client_request"]()[1].encode()
    program, machine = _core.Program(elf.read_bytes()), _core.Machine()
    for _ in range(2):
        assert machine.request(program)["body"] == expected


# ---- the pass on its own

def hoist(cpp: str) -> str:
    return hoist_literals(cpp)[0]


def body_of(cpp: str) -> str:
    return hoist(cpp).split("#line 1\n", 1)[1]


def test_pass_replaces_literal_expressions_and_defines_them_first():
    cpp = 'int f() { return g(pythonic::types::str("a\\tb"), pythonic::types::str("a\\tb"), x); }\n'
    out, count = hoist_literals(cpp)
    assert count == 2
    head, body = out.split("#line 1\n")
    assert head == ('#include "pythran_literals.hpp"\nnamespace mtd_literals {\n'
                    'static const ::mtd_pythran::literal l0("a\\tb");\n}\n')
    assert body == "int f() { return g(::mtd_literals::l0.get(), ::mtd_literals::l0.get(), x); }\n"


def test_pass_keeps_distinct_tokens_distinct():
    out = hoist('f(pythonic::types::str("\\x41"), pythonic::types::str("A"), '
                'pythonic::types::str(""), pythonic::types::str(pythonic::types::chr(\'\\\'\')));')
    assert 'l0("\\x41");' in out and 'l1("A");' in out and 'l2("");' in out
    assert "l3(1, '\\'');" in out
    assert out.endswith("f(::mtd_literals::l0.get(), ::mtd_literals::l1.get(), "
                        "::mtd_literals::l2.get(), ::mtd_literals::l3.get());")


@pytest.mark.parametrize("cpp", [
    'x = "pythonic::types::str(\\"a\\")";',          # inside a string literal
    "// pythonic::types::str(\"a\")\n",              # inside comments
    '/* pythonic::types::str("a") */ x;',
    'x.pythonic::types::str("a");',                  # a member, a nested name
    'p->pythonic::types::str("a");',
    'ns::pythonic::types::str("a");',
    'new pythonic::types::str("a");',                # not an expression of its own
    'mypythonic::types::str("a");',
    '(T)pythonic::types::str("a");',
    '#define X pythonic::types::str("a")\n',         # a directive
    'pythonic::types::str("a" "b");',                # not one literal
    'pythonic::types::str( "a");',
    'pythonic::types::str("a").size();'.replace('("a")', '("a", 1)'),
    'pythonic::types::str(pythonic::types::chr(\'a\') );',
])
def test_pass_leaves_other_text_alone(cpp):
    assert hoist(cpp) == cpp


@pytest.mark.parametrize("cpp,reason", [
    ('f(pythonic::types::str("a")); R"(x)";', "prefixed"),
    ('f(pythonic::types::str("a")); u8"x";', "prefixed"),
    ("f(pythonic::types::str(\"a\")); long x = 1'000'000;", "digit separator"),
    ('f(pythonic::types::str("a")); "unterminated\n', "unrecognised"),
    ('f(pythonic::types::str("a")); /* open', "unterminated comment"),
    ('f(pythonic::types::str("a")); x = "\\\n";', "line splice"),
    ('f(pythonic::types::str("a"));\r\n', "carriage return"),
    ('f(pythonic::types::str("a??/"));', "trigraph"),
    ('%:define X pythonic::types::str("a")\n', "digraph"),
])
def test_pass_leaves_a_file_it_does_not_understand_alone(cpp, reason):
    assert hoist_literals(cpp) == (cpp, 0)
    assert reason in explain(cpp)


def test_pass_skips_directive_lines_only():
    cpp = ('  #  define X pythonic::types::str("a")\n'
           '/* a comment\n # not code */ f(pythonic::types::str("b"));\n'
           'f(pythonic::types::str("c")); // #\n')
    out = body_of(cpp)
    assert 'define X pythonic::types::str("a")' in out  # a directive
    assert 'f(pythonic::types::str("b"))' in out  # a line begun in a comment: maybe one
    assert "f(::mtd_literals::l0.get()); // #" in out


def test_pass_reads_a_long_line_of_literals_once():
    """A giant one-line expression (Pythran writes a list of 100,000 literals
    on one line): looking back to the line's start for each literal would
    take minutes; the pass must not."""
    n = 100_000
    cpp = "f(" + ", ".join(f'pythonic::types::str("w{i}")' for i in range(n)) + ");\n"
    out, count = hoist_literals(cpp + "/*" * 50_000)  # and many unterminated comments
    assert (out, count) == (cpp + "/*" * 50_000, 0)
    out, count = hoist_literals(cpp)
    assert count == n and out.endswith(f"::mtd_literals::l{n - 1}.get());\n")


def test_pass_accepts_every_expression_context():
    for before in ["(", ",", "=", "{", "[", "?", "!", "&&", "||", "+", "-", "*", "%", "<", ">",
                   ";", "}", "^", "a ? b :", "return ", "throw ", "return\n  "]:
        assert body_of(f'x {before}pythonic::types::str("a");') == \
            f"x {before}::mtd_literals::l0.get();", before
    assert body_of('pythonic::types::str("a");') == "::mtd_literals::l0.get();"
