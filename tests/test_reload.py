"""Hot reload: saving a tenant's files rebuilds and swaps that tenant only;
a new folder adds a tenant, a removed one unloads it; a broken save keeps
the last good version serving."""

import os
import shutil
import time
from pathlib import Path

import httpx
import pytest

from mtd.engine.watcher import TenantWatcher

from conftest import make_engine


def wait_for(predicate, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def tenant_source(text):
    return f"def on_client_request():\n    return 'text/plain', '{text}'\n"


@pytest.fixture
def watched(tmp_path, cache_dir):
    root = tmp_path / "tenants"
    for name in ("a", "b"):
        (root / name).mkdir(parents=True)
        (root / name / "app.py").write_text(tenant_source(f"{name}1"))
        (root / name / "tenant.toml").write_text(f'hosts = ["{name}.test"]\n')
    engine = make_engine(root, cache_dir)
    engine.start()
    watcher = TenantWatcher(engine)
    watcher.start()
    client = httpx.Client(base_url=f"http://127.0.0.1:{engine.port}", timeout=10)
    yield root, engine, client
    client.close()
    watcher.stop()
    engine.stop()


def get(client, host):
    return client.get("/", headers={"Host": host})


def test_save_rebuilds_and_swaps_only_that_tenant(watched):
    root, engine, client = watched
    assert get(client, "a.test").text == "a1"
    b_version = engine.tenants["b"].version
    (root / "a" / "app.py").write_text(tenant_source("a2"))
    wait_for(lambda: get(client, "a.test").text == "a2")
    assert engine.tenants["a"].version == 2
    assert engine.tenants["b"].version == b_version
    wait_for(lambda: engine.tenants["a"].save_to_serving_s is not None)
    assert engine.tenants["a"].save_to_serving_s < 30
    events = [r.text for r in engine.drain_logs() if r.tenant == "a"]
    assert any(e.startswith("save to serving in") for e in events)


def test_tenant_toml_change_reroutes(watched):
    root, engine, client = watched
    (root / "b" / "tenant.toml").write_text('hosts = ["b.test", "bee.test"]\n')
    wait_for(lambda: get(client, "bee.test").text == "b1")


def test_new_folder_adds_and_removed_folder_unloads(watched):
    root, engine, client = watched
    (root / "c").mkdir()
    (root / "c" / "tenant.toml").write_text('hosts = ["c.test"]\n')
    (root / "c" / "app.py").write_text(tenant_source("c1"))
    wait_for(lambda: get(client, "c.test").text == "c1")
    shutil.rmtree(root / "c")
    wait_for(lambda: get(client, "c.test").status_code == 404)
    assert "c" not in engine.tenants


def test_broken_save_keeps_last_good_version(watched):
    root, engine, client = watched
    (root / "a" / "app.py").write_text("def on_client_request():\n    return 'text/plain', 1 +\n")
    wait_for(lambda: engine.tenants["a"].error)
    assert engine.tenants["a"].error.startswith("a: app.py:2: syntax error")
    assert engine.tenants["a"].state == "serving"
    assert get(client, "a.test").text == "a1"
    (root / "a" / "app.py").write_text(tenant_source("a3"))
    wait_for(lambda: get(client, "a.test").text == "a3")
    assert engine.tenants["a"].error is None


BROKEN = {
    "syntax": ("app.py", "def on_client_request():\n    return 'text/plain', 1 +\n",
               "t: app.py:2: syntax error"),
    "pythran-type": ("app.py", "def f(x):\n    return x + 'a'\n\ndef on_client_request():\n"
                     "    return 'text/plain', str(f(1))\n", "t: app.py:5: unsupported operand"),
    "cpp-compile": ("app.cpp", '#include "mtd_guest.h"\nint main() { nope(); }\n',
                    "t: app.cpp:2: C++ error:"),
    "bad-handler": ("app.py", "def on_client_request(a):\n    return 'text/plain', a\n",
                    "t: app.py:1: on_client_request must take"),
    "bad-toml": ("tenant.toml", "hosts = [1, 2]\n", "tenant.toml: hosts must be a list"),
}


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_each_error_kind_keeps_previous_version_serving(tmp_path, cache_dir, kind):
    from mtd.engine import LoadFailed
    folder = tmp_path / "t"
    folder.mkdir()
    (folder / "app.py").write_text(tenant_source("good"))
    (folder / "tenant.toml").write_text("default = true\n")
    engine = make_engine(tmp_path, cache_dir)
    engine.start()
    try:
        filename, source, message = BROKEN[kind]
        if filename == "app.cpp":
            (folder / "app.py").unlink()
        (folder / filename).write_text(source)
        with pytest.raises(LoadFailed) as info:
            engine.reload("t")
        assert message in str(info.value) and "\n" not in str(info.value)
        status = engine.tenants["t"]
        assert (status.state, status.version) == ("serving", 1)
        assert message in status.error
        with httpx.Client(base_url=f"http://127.0.0.1:{engine.port}") as c:
            assert c.get("/").text == "good"
    finally:
        engine.stop()


def test_unexpected_reload_error_is_reported_and_the_tenant_still_reloads(watched, monkeypatch):
    """An exception no one planned for (here from the builder) fails that
    reload like a build error: logged, last version serving, and the next
    save still rebuilds (the watcher's thread and bookkeeping survive)."""
    root, engine, client = watched
    real_build = engine.builder.build

    def explode(spec, **options):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(engine.builder, "build", explode)
    (root / "a" / "app.py").write_text(tenant_source("a2"))
    wait_for(lambda: engine.tenants["a"].error)
    assert "RuntimeError: disk on fire" in engine.tenants["a"].error
    assert engine.tenants["a"].state == "serving" and get(client, "a.test").text == "a1"
    monkeypatch.setattr(engine.builder, "build", real_build)
    (root / "a" / "app.py").write_text(tenant_source("a3"))
    wait_for(lambda: get(client, "a.test").text == "a3")


def test_an_exception_in_a_build_becomes_that_tenants_error(watched, monkeypatch):
    """Whatever a build raises in the watcher's threads (not just a
    BuildError) is the tenant's build error: it leaves "building", its last
    good version serves, and the next save is picked up."""
    root, engine, client = watched
    real_build = engine.builder.build

    def broken_build(spec, **options):
        if spec.name == "a":
            raise OSError("the build tool broke")
        return real_build(spec, **options)

    monkeypatch.setattr(engine.builder, "build", broken_build)
    (root / "a" / "app.py").write_text(tenant_source("a2"))
    wait_for(lambda: engine.tenants["a"].error)
    status = engine.tenants["a"]
    assert status.error == "a: build failed: OSError: the build tool broke"
    assert (status.state, status.version) == ("serving", 1)
    assert get(client, "a.test").text == "a1"
    assert any(r.tenant == "a" and "the build tool broke" in r.text for r in engine.drain_logs())

    monkeypatch.setattr(engine.builder, "build", real_build)
    (root / "a" / "app.py").write_text(tenant_source("a3"))
    wait_for(lambda: get(client, "a.test").text == "a3")
    assert engine.tenants["a"].error is None and engine.tenants["a"].state == "serving"


def test_save_to_serving_counts_from_when_the_change_was_seen(watched, tmp_path):
    """A folder moved back in keeps its old mtimes: the time is measured
    from when the watcher saw it (it read 23 s from the mtimes)."""
    root, engine, client = watched
    outside = tmp_path / "away"
    outside.mkdir()
    shutil.copytree(root / "b", outside / "c")
    (outside / "c" / "tenant.toml").write_text('hosts = ["c.test"]\n')
    (outside / "c" / "app.py").write_text(tenant_source("c1"))
    hour_ago = time.time() - 3600
    for f in (outside / "c").iterdir():
        os.utime(f, (hour_ago, hour_ago))
    moved_at = time.monotonic()
    (outside / "c").rename(root / "c")
    wait_for(lambda: get(client, "c.test").text == "c1")
    wait_for(lambda: engine.tenants["c"].save_to_serving_s is not None)
    assert engine.tenants["c"].save_to_serving_s <= time.monotonic() - moved_at


def test_a_relative_cache_dir_builds_python_tenants(tmp_path, monkeypatch):
    """--cache-dir c used to make every Python tenant fail ("pythran
    failed", empty log): paths are resolved at start-up."""
    (tmp_path / "tenants" / "p").mkdir(parents=True)
    (tmp_path / "tenants" / "p" / "app.py").write_text(tenant_source("relative"))
    (tmp_path / "tenants" / "p" / "tenant.toml").write_text("default = true\n")
    monkeypatch.chdir(tmp_path)
    engine = make_engine(Path("tenants"), Path("c"))
    assert engine.config.cache_dir == tmp_path / "c" and engine.config.tenants_dir.is_absolute()
    engine.start()
    try:
        assert engine.tenants["p"].state == "serving", engine.tenants["p"].error
        with httpx.Client(base_url=f"http://127.0.0.1:{engine.port}") as c:
            assert c.get("/").text == "relative"
    finally:
        engine.stop()
