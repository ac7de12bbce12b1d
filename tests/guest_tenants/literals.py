# A Pythran tenant that uses str literals in every shape the build's literal
# hoisting (engine/literals.py, engine/guest/pythran_literals.hpp) must keep
# meaning what they meant: mutated, concatenated, in loops, in closures, as
# dict keys, formatted, escaped, non-ASCII, empty, very long, aliased.
# test_literals.py runs each path several times on one machine and compares
# the answers with CPython running this file (path /py/...) or with the same
# source built without the hoisting (every path). `body` comes from the
# request, so Pythran cannot fold the work away at compile time.

GREETING = "hello"
LONG = "0123456789abcdef" * 4096  # 64 KiB, folded by Pythran into one literal
KEYS = {"alpha": 1, "beta": 2, "": 3}


def grow(n):
    s = ""  # the same literal each call: every call must start from ""
    for i in range(n):
        s += "ab"
    return s


def loop_list(n):
    out = []
    for i in range(n):
        out.append("xx")
    out[0] += "yy"  # only the first element changes
    return ", ".join(out)


def closure(body):
    tag = "tag"
    def inner(x):
        return "<<" + tag + "::" + x + ">>"
    return inner(body) + inner("lit")


def nested(body):
    def deeper():
        def deepest():
            return "deep"
        return deepest() + "er"
    return deeper() + body


def keys(body):
    d = {"k1": 10, "k2": 20}
    d["k3"] = len(body)
    d[body] = 5
    total = KEYS["alpha"] + KEYS["beta"] + KEYS[""]
    names = [("one", "uno"), (body, "mine")]
    return (str(d["k1"] + d["k2"] + d["k3"] + d[body]) + str(total) + str("k2" in d)
            + str(body in KEYS) + names[0][1] + names[1][0] + names[1][1])


def formats(body):
    n = len(body)
    return f"[{body:s}|{n:d}]" + "%s/%d" % (body, n)


def escapes():
    return "tab\tnl\nquote\"apos'back\\slash\x01\x7f"


def unicode_text(body):
    s = "h\u00e9llo \u65e5\u672c \U0001f600"
    return s + str(len(s)) + body + "\u00e9"


def empty(body):
    e = ""
    e += body
    f = ""
    return e + "||" + f + "||" + str(len(f)) + str(e == "") + str(f == "")


def long_text(body):
    s = LONG
    t = s + body
    s += "!!"
    return str(len(s)) + str(len(t)) + str(s[-3:]) + str(t[:4]) + str(len(LONG)) + str(LONG[-2:])


def methods(body):
    s = "  Mixed Case, Words  " + body
    parts = s.strip().split(", ")
    return (s.upper() + s.lower() + s.replace("Case", body) + "-".join(parts)
            + str(s.find("Case")) + str(s.count("s")) + str(s.startswith("  M"))
            + str("ab" < "ba") + "ab" * 3 + str(s[2:7]) + str(s[::-1]) + str(sorted(["b", "a", "c"])))


def repeat_mutation(body):
    words = ["first", "second"]
    words[1] += body
    again = ["first", "second"]
    return words[0] + words[1] + again[1]


def quoted(body):
    out = '"'  # one-character literals: Pythran's chr, made a str when needed
    for c in body:
        if c == '"' or c == '\\':
            out += '\\' + c
        else:
            out += c
    return out + '"'


def with_default(x, suffix="!!"):
    return x + suffix


def defaults(body):
    a = with_default(body)
    b = with_default(body)
    return a + b + with_default(body, "?!")


def mutate_global(body):
    g = GREETING
    g += body  # the global literal must stay "hello" for the next request
    return g + GREETING


SHAPES = ["grow", "twice", "loop_list", "closure", "nested", "keys", "formats", "escapes",
          "quoted", "unicode", "empty", "long", "methods", "repeat", "defaults", "global"]


def shape(name, body):
    if name == "grow":
        return grow(len(body))
    if name == "twice":  # what one call did to the literal must not reach the next
        return grow(len(body)) + "::" + grow(len(body) + 1) + "::" + quoted(body) + quoted(body)
    if name == "quoted":
        return quoted(body)
    if name == "loop_list":
        return loop_list(len(body) + 1)
    if name == "closure":
        return closure(body)
    if name == "nested":
        return nested(body)
    if name == "keys":
        return keys(body)
    if name == "formats":
        return formats(body)
    if name == "escapes":
        return escapes() + body
    if name == "unicode":
        return unicode_text(body)
    if name == "empty":
        return empty(body)
    if name == "long":
        return long_text(body)
    if name == "methods":
        return methods(body)
    if name == "repeat":
        return repeat_mutation(body)
    if name == "defaults":
        return defaults(body)
    if name == "global":
        return mutate_global(body)
    return "unknown shape " + name


# Pythran's own meaning, which may differ from CPython's: a str copied
# before it is mutated in place shares the mutation, and a literal's text
# ends at an embedded NUL. The hoisted build must keep both exactly.
def aliased(body):
    a = "alias"
    b = a
    a += body
    kept = ["item"]
    item = kept[0]
    item += body
    return a + " | " + b + " | " + kept[0] + " | " + item


def nul_literal(body):
    s = "before\x00after"
    return s + str(len(s)) + body


def identity(body):
    a = "same"
    b = "same"
    return str(id(a) == id(b)) + body


def on_client_request(method, path, headers, body):
    if path.startswith("/py/"):
        return 200, "text/plain; charset=utf-8", shape(path[4:], body)
    if path == "/pythran/aliased":
        return 200, "text/plain", aliased(body)
    if path == "/pythran/nul":
        return 200, "text/plain", nul_literal(body)
    if path == "/pythran/identity":
        return 200, "text/plain", identity(body)
    if path == "/all":
        out = ""
        for name in SHAPES:
            out += name + " = " + shape(name, body) + " ;\n"
        return 200, "text/plain", out
    return 404, "text/plain", "no such path: " + path
