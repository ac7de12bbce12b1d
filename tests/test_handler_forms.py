"""The handler forms a tenant's app.py may use, each answered through HTTP."""

import httpx
import pytest

from conftest import make_engine

FORMS = {
    "seed": (
        "def on_client_request():\n"
        "    def generator():\n"
        "        return 'text/plain', 'seed form'\n"
        "    return generator\n",
        200, "text/plain", "seed form"),
    "pair": (
        "def on_client_request():\n"
        "    return 'text/html', '<p>pair</p>'\n",
        200, "text/html", "<p>pair</p>"),
    "triple": (
        "def on_client_request():\n"
        "    return 201, 'application/json', '{\"created\": true}'\n",
        201, "application/json", '{"created": true}'),
    "request": (
        "def on_client_request(method, path, headers, body):\n"
        "    return 200, 'text/plain', method + ' ' + path + ' ' + headers['x-probe'] + ' '"
        " + headers['host'] + ' ' + body\n",
        200, "text/plain", "POST /echo/me probe-value request.test the body"),
    "init": (
        "def on_init():\n"
        "    print('init ran')\n\n"
        "def on_client_request():\n"
        "    return 'text/plain', 'with init'\n",
        200, "text/plain", "with init"),
}


@pytest.fixture(scope="module")
def forms_engine(tmp_path_factory, cache_dir):
    root = tmp_path_factory.mktemp("forms")
    for name, (source, *_rest) in FORMS.items():
        (root / name).mkdir()
        (root / name / "app.py").write_text(source)
        (root / name / "tenant.toml").write_text(f'hosts = ["{name}.test"]\n')
    engine = make_engine(root, cache_dir)
    engine.start()
    yield engine
    engine.stop()


@pytest.mark.parametrize("form", sorted(FORMS))
def test_handler_form(forms_engine, form):
    _source, status, content_type, body = FORMS[form]
    assert forms_engine.tenants[form].state == "serving", forms_engine.tenants[form].error
    with httpx.Client(base_url=f"http://127.0.0.1:{forms_engine.port}") as c:
        response = c.post("/echo/me?q=1", headers={"Host": f"{form}.test", "X-Probe": "probe-value"},
                          content=b"the body")
    assert response.status_code == status
    assert response.headers["content-type"] == content_type
    assert response.text == body


RAISING = (
    "def on_client_request(method, path, headers, body):\n"
    "    try:\n"
    "        value = headers['x-absent']\n"
    "    except KeyError:\n"
    "        value = 'caught'\n"
    "    if path == '/raise':\n"
    "        return 200, 'text/plain', headers['x-absent']\n"
    "    return 200, 'text/plain', value\n")


def test_exceptions_are_caught_in_the_handler_or_answered_500(tmp_path, cache_dir):
    (tmp_path / "raising").mkdir()
    (tmp_path / "raising" / "app.py").write_text(RAISING)
    (tmp_path / "raising" / "tenant.toml").write_text("default = true\n")
    engine = make_engine(tmp_path, cache_dir)
    engine.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{engine.port}") as c:
            # A raise caught by the tenant itself fits well inside the default
            # budget (the shim primes the unwinder before ready).
            assert [c.get("/").text for _ in range(3)] == ["caught"] * 3
            before = next(s for s in engine.stats() if s["name"] == "raising")
            escaped = c.get("/raise")
            after = next(s for s in engine.stats() if s["name"] == "raising")
        log = [r.text for r in engine.drain_logs() if r.kind == "guest"]
    finally:
        engine.stop()
    assert escaped.status_code == 500
    assert escaped.text.startswith("mtd: exception: KeyError")
    assert any(line.startswith("on_client_request raised KeyError") for line in log)
    # The guest answered the 500 itself: counted as a 5xx, not as a sandbox error.
    assert after["status_5xx"] == before["status_5xx"] + 1
    assert after["errors"] == before["errors"]
