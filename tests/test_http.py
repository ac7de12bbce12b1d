"""HTTP round trips through the sandbox, against the fixture tenants (tests/fixture_tenants)."""

import httpx

from mtd.engine import Engine

from conftest import SEED_PAGE, TENANTS, make_engine


def test_hello_serves_the_seed_page(client):
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain"
    assert response.content == SEED_PAGE


def test_vanilla_serves_the_same_bytes_without_sandbox(client):
    sandboxed, vanilla = client.get("/"), client.get("/_mtd/vanilla")
    assert vanilla.status_code == 200
    assert vanilla.content == sandboxed.content
    assert vanilla.headers["content-type"] == sandboxed.headers["content-type"]


def test_requests_are_ephemeral(client):
    # The counter tenant increments a global and a heap value per request;
    # each request runs in a fresh fork, so it always sees them at 0.
    answers = {client.get("/", headers={"Host": "counter.localhost"}).text for _ in range(20)}
    assert answers == {"1 1\n"}


def test_host_routing_ignores_port_and_case(client, engine):
    response = client.get("/", headers={"Host": f"Counter.LOCALHOST:{engine.port}"})
    assert response.text == "1 1\n"
    assert client.get("/", headers={"Host": "hello.localhost"}).content == SEED_PAGE


def test_unknown_host_goes_to_default_tenant(client):
    assert client.get("/", headers={"Host": "nobody.example"}).content == SEED_PAGE


def test_routing_follows_the_host_on_one_keep_alive_connection(client):
    # A worker remembers its last Host and tenant; a change of Host on the
    # same connection must still be routed afresh, repeats included.
    hosts = ["hello.localhost", "counter.localhost", "counter.localhost", "nobody.example",
             "COUNTER.localhost", "hello.localhost", "hello.localhost", "counter.localhost"]
    answers = [client.get("/", headers={"Host": h}).content for h in hosts]
    expected = [b"1 1\n" if "counter" in h.lower() else SEED_PAGE for h in hosts]
    assert answers == expected


def test_on_init_output_is_logged_once_per_load_and_attributed(tmp_path, cache_dir, bundled_elves):
    engine = make_engine(TENANTS, cache_dir)
    engine.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{engine.port}") as c:
            for _ in range(5):
                assert c.get("/").status_code == 200
        guest = [(r.tenant, r.text) for r in engine.drain_logs() if r.kind == "guest"]
        assert guest == [("hello", "Hello from Python")]
        engine.reload("hello")
        guest = [(r.tenant, r.text) for r in engine.drain_logs() if r.kind == "guest"]
        assert guest == [("hello", "Hello from Python")]
    finally:
        engine.stop()


def test_no_default_tenant_gives_clear_404(tmp_path, cache_dir):
    folder = tmp_path / "only"
    folder.mkdir()
    (folder / "app.py").write_text("def on_client_request():\n    return 'text/plain', 'only'\n")
    (folder / "tenant.toml").write_text('hosts = ["only.localhost"]\n')
    engine = make_engine(tmp_path, cache_dir)
    engine.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{engine.port}") as c:
            assert c.get("/", headers={"Host": "only.localhost"}).text == "only"
            for _ in range(2):  # the second one takes the worker's remembered route
                missing = c.get("/", headers={"Host": "Other.localhost:80"})
                assert missing.status_code == 404
                assert "no tenant for host 'other.localhost'" in missing.text
            assert c.get("/", headers={"Host": "only.localhost"}).text == "only"
    finally:
        engine.stop()


def load_python_tenant(name):
    """The tenant's app.py run by CPython, to compare with the sandbox."""
    import runpy
    return runpy.run_path(str(TENANTS / name / "app.py"))


def test_cpu_bound_tenant_matches_cpython(client):
    expected = load_python_tenant("mandelbrot")["on_client_request"]()
    response = client.get("/", headers={"Host": "mandelbrot.localhost"})
    assert response.status_code == 200
    assert (response.headers["content-type"], response.text) == expected


def test_json_api_uses_the_request_like_cpython(client):
    api = load_python_tenant("api")["on_client_request"]
    body = 'he said "hi" \\ bye'
    response = client.post("/api/echo", headers={"Host": "api.localhost", "Content-Type": "text/x"},
                           content=body.encode())
    expected = api("POST", "/api/echo", {"content-type": "text/x"}, body)
    assert (response.status_code, response.headers["content-type"], response.text) == expected
    assert response.json() == {"method": "POST", "length": len(body), "content_type": "text/x",
                               "body": body}
    assert client.get("/api/echo", headers={"Host": "api.localhost"}).status_code == 405
    missing = client.get("/api/nope", headers={"Host": "api.localhost"})
    assert missing.status_code == 404 and missing.json() == {"error": "no such endpoint: nope"}
