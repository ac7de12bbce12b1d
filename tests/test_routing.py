"""Who serves a host is never decided by a tenant alone. A tenant.toml can
ask for any host, or to be the default: a host (or the default) asked for by
several tenants at start goes to none of them, and once a tenant serves a
host no other tenant's load or reload can take it. Limits a tenant.toml asks
for are capped by the server's maxima."""

import httpx
import pytest

from mtd.engine import LoadFailed, TenantConfigError
from mtd.engine.tenants import load_tenant

from conftest import make_engine

NAMED = r"""
#include "mtd_guest.h"
static const char name[] = "%s";
int main() {
    mtd_ready();
    mtd_respond(200, "text/plain", 10, name, sizeof name - 1);
}
"""


def add(root, name, toml):
    folder = root / name
    folder.mkdir()
    (folder / "app.cpp").write_text(NAMED % name)
    (folder / "tenant.toml").write_text(toml)
    return folder


def answer(engine, host):
    with httpx.Client(base_url=f"http://127.0.0.1:{engine.port}", timeout=10) as client:
        return client.get("/", headers={"Host": host})


def test_a_host_claimed_by_several_tenants_at_start_goes_to_none(tmp_path, cache_dir):
    add(tmp_path, "aaa", 'hosts = ["shop.test", "aaa.test"]\n')
    add(tmp_path, "shop", 'hosts = ["shop.test"]\n')
    add(tmp_path, "zzz", 'hosts = ["SHOP.test.:8080"]\n')  # the same host, spelled otherwise
    engine = make_engine(tmp_path, cache_dir)
    engine.start()
    try:
        assert answer(engine, "shop.test").status_code == 404  # no default tenant either
        assert answer(engine, "aaa.test").text == "aaa"         # its other hosts still serve
        notes = [r.text for r in engine.drain_logs()]
        assert any("host 'shop.test' is claimed by several tenants (aaa, shop, zzz)" in n for n in notes), notes
    finally:
        engine.stop()


def test_the_default_claimed_by_several_goes_to_none(tmp_path, cache_dir):
    add(tmp_path, "aaa", 'default = true\nhosts = ["aaa.test"]\n')
    add(tmp_path, "hello", 'default = true\nhosts = ["hello.test"]\n')
    engine = make_engine(tmp_path, cache_dir)
    engine.start()
    try:
        assert answer(engine, "unknown.test").status_code == 404
        assert answer(engine, "hello.test").text == "hello"
    finally:
        engine.stop()


def test_a_served_host_cannot_be_taken_by_a_later_load(tmp_path, cache_dir):
    add(tmp_path, "shop", 'default = true\nhosts = ["shop.test"]\n')
    engine = make_engine(tmp_path, cache_dir)
    engine.start()
    try:
        assert answer(engine, "shop.test").text == "shop"
        thief = add(tmp_path, "aaa", 'hosts = ["shop.test", "aaa.test"]\n')
        with pytest.raises(LoadFailed, match="host 'shop.test' is already served by tenant 'shop'"):
            engine.load(load_tenant(thief))
        (thief / "tenant.toml").write_text('default = true\nhosts = ["aaa.test"]\n')
        with pytest.raises(LoadFailed, match="tenant 'shop' is already the default"):
            engine.load(load_tenant(thief))
        assert answer(engine, "shop.test").text == "shop"
        assert answer(engine, "unknown.test").text == "shop"
        # Asking for nobody's host is fine; and the owner may reload.
        (thief / "tenant.toml").write_text('hosts = ["aaa.test"]\n')
        engine.load(load_tenant(thief))
        assert answer(engine, "aaa.test").text == "aaa"
        engine.reload("shop")
        assert answer(engine, "shop.test").text == "shop"
    finally:
        engine.stop()


@pytest.mark.parametrize("key, too_much", [
    ("request_instructions", 1_000_000_001),
    ("init_instructions", 20_000_000_001),
    ("request_memory", (1 << 30) + 1),
    ("init_memory", (1 << 30) + 1),
    ("response_bytes", (64 << 20) + 1),
])
def test_limits_over_the_servers_maximum_are_refused(tmp_path, key, too_much):
    folder = add(tmp_path, "greedy", f"[limits]\n{key} = {too_much}\n")
    with pytest.raises(TenantConfigError, match=f"limit '{key}' = {too_much:,} is over the server's maximum"):
        load_tenant(folder)
    (folder / "tenant.toml").write_text(f"[limits]\n{key} = {too_much - 1}\n")
    assert load_tenant(folder).limits[key] == too_much - 1
