"""Tenant output: attributed, split into lines, and rate-limited so a
printing tenant cannot flood the log or crowd out its neighbours."""

import httpx

from mtd.engine.loadtest import LoadTest, LoadTestSpec

from conftest import make_engine

CHATTY = r'''
#include <cstdio>
#include <cstring>
#include "mtd_guest.h"
int main() {
    std::printf("chatty ready\n");
    std::fflush(stdout);
    if (mtd_ready() != 0) return 0;
    static char line[1024];
    std::memset(line, 'x', sizeof line - 1);
    line[sizeof line - 2] = '\n';
    for (int i = 0; i < 10; i++) std::fputs(line, stdout);
    std::fflush(stdout);
    mtd_respond(200, "text/plain", 10, "ok", 2);
}
'''


def test_print_flood_is_rate_limited_per_tenant(tmp_path, cache_dir):
    (tmp_path / "chatty").mkdir()
    (tmp_path / "chatty" / "app.cpp").write_text(CHATTY)
    (tmp_path / "chatty" / "tenant.toml").write_text('hosts = ["chatty.test"]\n')
    (tmp_path / "quiet").mkdir()
    (tmp_path / "quiet" / "app.py").write_text(
        "def on_init():\n    print('quiet ready')\n\n"
        "def on_client_request():\n    return 'text/plain', 'q'\n")
    (tmp_path / "quiet" / "tenant.toml").write_text('hosts = ["quiet.test"]\n')
    engine = make_engine(tmp_path, cache_dir)
    engine.start()
    try:
        report = LoadTest(engine, LoadTestSpec(tenant="chatty", requests=2000, duration=0,
                                               connections=4, threads=1)).start().wait().report
        assert report["status"]["2xx"] == 2000  # printing never fails the request
        engine.reload("quiet")
        records = engine.drain_logs()
        chatty_bytes = sum(len(r.text) + 1 for r in records if r.tenant == "chatty")
        stats = next(s for s in engine.stats() if s["name"] == "chatty")
    finally:
        engine.stop()
    written = 2000 * 10 * 1023
    assert chatty_bytes < written / 10  # most of ~20 MB was dropped ...
    assert stats["log_dropped"] > written / 2  # ... and counted
    assert sum("log rate limit" in r.text for r in records if r.tenant == "chatty") == 1
    # The neighbour's output still gets through, whole and attributed: once
    # per load (start, then the reload during the flood's aftermath).
    quiet = [r.text for r in records if r.tenant == "quiet" and r.kind == "guest"]
    assert quiet == ["quiet ready", "quiet ready"]
