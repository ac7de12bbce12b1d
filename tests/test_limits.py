"""Every limit and fault path of the sandbox, tripped through HTTP: each gets
its own status and reason, moves its counter, and leaves the server (and the
neighbour tenant) serving."""

import ctypes
import re
import shutil
import time
from pathlib import Path

import httpx
import pytest

from mtd.engine import LoadFailed

from conftest import REPO, SEED_PAGE, TENANTS, make_engine

GUEST_TENANTS = Path(__file__).resolve().parent / "guest_tenants"

# path -> (status, start of the body, error counter that must move)
ATTACKS = {
    "/loop": (504, "mtd: budget: instruction budget exhausted", "budget"),
    "/long-block": (504, "mtd: budget: instruction budget exhausted", "budget"),
    "/print-flood": (504, "mtd: budget: instruction budget exhausted", "budget"),
    "/malloc": (507, "mtd: memory: memory limit exceeded", "memory"),
    "/brk": (507, "mtd: memory: memory limit exceeded", "memory"),
    "/mmap": (507, "mtd: memory: memory limit exceeded", "memory"),
    # Past the 8 MiB stack: the unmapped page right below it.
    "/recursion": (500, "mtd: fault: stack overflow (8 MiB): store access fault at 0xef7ff", "fault"),
    "/null": (500, "mtd: fault: load access fault at 0x0 ", "fault"),
    "/null-write": (500, "mtd: fault: store access fault at 0x0 ", "fault"),
    "/wild": (500, "mtd: fault: load access fault at 0xdead0000beef", "fault"),
    "/high-read": (500, "mtd: fault: load access fault at 0xffffffff80000000 ", "fault"),
    "/high-write": (500, "mtd: fault: store access fault at 0x8000000000000000 ", "fault"),
    "/unmapped-write": (500, "mtd: fault: store access fault at 0xe8000000 ", "fault"),
    "/write-code": (500, "mtd: fault: store access fault", "fault"),
    "/jump-data": (500, "mtd: fault: instruction fetch fault", "fault"),
    # Only the ELF's own code runs, whatever a mapping's permissions say.
    "/exec-mmap": (500, "mtd: fault: instruction fetch fault at pc 0x", "fault"),
    "/illegal": (500, "mtd: fault: illegal instruction", "fault"),
    "/bad-pointer": (500, "mtd: fault: respond: unreadable buffer", "fault"),
    "/high-pointer": (500, "mtd: fault: respond: unreadable buffer", "fault"),
    "/abort": (500, "mtd: fault: abort (signal 6)", "fault"),
    # An uncaught C++ exception: std::terminate, then abort.
    "/throw": (500, "mtd: fault: abort (signal 6)", "fault"),
    "/big": (502, "mtd: response_too_large:", "response_too_large"),
    "/exit": (502, "mtd: no_response: guest exited without responding", "no_response"),
}


def add_tenant(root: Path, name: str, source: str, filename: str = "app.cpp", toml: str = ""):
    folder = root / name
    folder.mkdir()
    (folder / filename).write_text(source)
    if toml:
        (folder / "tenant.toml").write_text(toml)
    return folder


@pytest.fixture(scope="module")
def hostile_engine(tmp_path_factory, cache_dir):
    root = tmp_path_factory.mktemp("hostile-tenants")
    shutil.copytree(TENANTS / "hello", root / "hello")
    add_tenant(root, "hostile", (GUEST_TENANTS / "hostile.cpp").read_text(),
               toml='hosts = ["hostile.test"]\n[limits]\nrequest_memory = 16777216\n'
                    'response_bytes = 1048576\n')
    add_tenant(root, "vault", (GUEST_TENANTS / "vault.cpp").read_text(), toml='hosts = ["vault.test"]\n')
    engine = make_engine(root, cache_dir)
    engine.start()
    yield engine
    engine.stop()


def tenant_stats(engine, name):
    return next(s for s in engine.stats() if s["name"] == name)


@pytest.mark.parametrize("path", sorted(ATTACKS))
def test_attack_is_contained(hostile_engine, path):
    status, reason, counter = ATTACKS[path]
    before = tenant_stats(hostile_engine, "hostile")["errors"][counter]
    with httpx.Client(base_url=f"http://127.0.0.1:{hostile_engine.port}", timeout=10) as c:
        response = c.get(path, headers={"Host": "hostile.test"})
        assert response.status_code == status
        assert response.text.startswith(reason)
        assert response.text.count("\n") == 1  # one line, no guest dump
        # The same worker threads go on serving the neighbour and the attacker.
        for _ in range(4):
            assert c.get("/").content == SEED_PAGE
        assert c.get("/ok", headers={"Host": "hostile.test"}).text == "fine\n"
    assert tenant_stats(hostile_engine, "hostile")["errors"][counter] == before + 1


def test_own_code_cannot_be_made_writable_or_unmapped(hostile_engine):
    with httpx.Client(base_url=f"http://127.0.0.1:{hostile_engine.port}", timeout=10) as c:
        response = c.get("/mprotect-code", headers={"Host": "hostile.test"})
    assert (response.status_code, response.text) == (200, "mprotect -13 munmap -22\n")  # EACCES, EINVAL


def test_uncaught_cpp_exception_is_logged(hostile_engine):
    # After /print-flood the tenant's log budget takes a few seconds to refill.
    deadline = time.monotonic() + 10
    log = ""
    with httpx.Client(base_url=f"http://127.0.0.1:{hostile_engine.port}", timeout=10) as c:
        while "escaped the handler" not in log and time.monotonic() < deadline:
            hostile_engine.drain_logs()
            assert c.get("/throw", headers={"Host": "hostile.test"}).status_code == 500
            time.sleep(0.2)
            log = "".join(r.text for r in hostile_engine.drain_logs() if r.kind == "guest")
            time.sleep(0.3)
    assert "terminate called after throwing an instance of 'std::runtime_error'" in log
    assert "escaped the handler" in log


def test_address_space_bomb_runs_out_of_addresses(hostile_engine):
    """mmap without touching: the guest gets ENOMEM when its 2.5 GiB mmap
    window is full, no host memory goes with it, and the request answers."""
    before = tenant_stats(hostile_engine, "hostile")["errors"]
    with httpx.Client(base_url=f"http://127.0.0.1:{hostile_engine.port}", timeout=10) as c:
        response = c.get("/mmap-reserve", headers={"Host": "hostile.test"})
    assert response.status_code == 200, response.text
    mapped, calls, last = re.fullmatch(r"mapped (\d+) MiB in (\d+) calls, then (-?\d+)\n",
                                       response.text).groups()
    assert 2048 <= int(mapped) <= 3584 and int(last) == -12  # -ENOMEM
    assert tenant_stats(hostile_engine, "hostile")["errors"] == before


def supported_syscalls() -> list[int]:
    """The system-call numbers the sandbox implements (cpp/sandbox/syscalls.cpp)."""
    source = (REPO / "cpp" / "sandbox" / "syscalls.cpp").read_text()
    numbers = [int(n) for n in re.findall(r"\bSYS_\w+ = (\d+)", source)]
    assert len(numbers) > 40  # the table was found
    return numbers


def test_every_unsupported_syscall_is_enosys(hostile_engine):
    """Every other number in 0..511 (and some far beyond) answers -ENOSYS and
    leaves the guest's memory and registers alone; the request then answers."""
    supported = supported_syscalls()
    hostile_engine.drain_logs()
    before = tenant_stats(hostile_engine, "hostile")["errors"]
    with httpx.Client(base_url=f"http://127.0.0.1:{hostile_engine.port}", timeout=10) as c:
        response = c.post("/syscalls", headers={"Host": "hostile.test"},
                          content=" ".join(map(str, supported)))
        assert c.get("/").content == SEED_PAGE
    assert response.status_code == 200, response.text
    tried = 512 - len(set(supported)) + 8
    assert response.text == f"tried {tried} misbehaved 0\n"
    assert tenant_stats(hostile_engine, "hostile")["errors"] == before
    assert not [r for r in hostile_engine.drain_logs() if r.kind == "guest"]


def test_addresses_guessed_from_a_neighbour_reach_only_own_memory(hostile_engine):
    """The attacker aims at the addresses where its neighbour keeps secrets
    (global, heap, stack) and at a host address holding one: it reads and
    writes only its own copy (or faults), and the neighbour keeps its secrets."""
    host_secret = ctypes.create_string_buffer(b"vault-secret-0451-host" * 4)
    host_address = ctypes.addressof(host_secret)
    with httpx.Client(base_url=f"http://127.0.0.1:{hostile_engine.port}", timeout=10) as c:
        def attack(path, address):
            r = c.get(f"{path}?{address:x}", headers={"Host": "hostile.test"})
            if r.status_code == 500:
                assert r.text.startswith("mtd: fault: "), r.text
                return None
            assert r.status_code == 200, r.text
            return bytes.fromhex(r.text.strip())

        secrets = c.get("/", headers={"Host": "vault.test"}).text
        assert secrets == "vault-secret-0451-global vault-secret-0451-heap vault-secret-0451-stack\n"
        addresses = [int(a, 16) for a in c.get("/where", headers={"Host": "vault.test"}).text.split()]
        for address in addresses:
            seen = attack("/peek", address)
            assert seen is None or b"vault" not in seen, seen
            written = attack("/poke", address)
            assert written is None or written.startswith(b"PWNED by hostile"), written
            # Not even the attacker's own next request sees its write.
            again = attack("/peek", address)
            assert again is None or b"PWNED" not in again, again
        # A host address is not a guest address: always a fault.
        r = c.get(f"/peek?{host_address:x}", headers={"Host": "hostile.test"})
        assert r.status_code == 500
        assert r.text.startswith(f"mtd: fault: load access fault at {host_address:#x} ")
        assert c.get("/", headers={"Host": "vault.test"}).text == secrets


def test_tenants_share_no_writable_page(tmp_path, cache_dir):
    source = (GUEST_TENANTS / "tenant_data.cpp").read_text()
    for name in ("alpha", "beta"):
        add_tenant(tmp_path, name, source.replace('"unset"', f'"{name}"'),
                   toml=f'hosts = ["{name}.test"]\n')
    engine = make_engine(tmp_path, cache_dir)
    engine.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{engine.port}") as c:
            answers = {name: {c.get("/", headers={"Host": f"{name}.test"}).text for _ in range(5)}
                       for name in ("alpha", "beta")}
    finally:
        engine.stop()
    (alpha,), (beta,) = answers["alpha"], answers["beta"]
    alpha_address, alpha_secret = alpha.split()
    beta_address, beta_secret = beta.split()
    # The same guest address holds each tenant's own data, and a request's
    # write ("overwritten by a request") is never seen by the next request.
    assert alpha_address == beta_address
    assert (alpha_secret, beta_secret) == ("alpha", "beta")


def test_requests_never_see_earlier_writes(tmp_path, cache_dir):
    # One worker thread, so every request forks into the same machine, which
    # keeps the pages the previous request copied and must undo its writes.
    add_tenant(tmp_path, "scribble", (GUEST_TENANTS / "scribble.cpp").read_text(),
               toml='hosts = ["scribble.test"]\n')
    engine = make_engine(tmp_path, cache_dir, threads=1)
    engine.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{engine.port}", timeout=10) as c:
            answers = [c.get("/", headers={"Host": "scribble.test"}).text for _ in range(12)]
    finally:
        engine.stop()
    assert answers == ["clean\n"] * 12


# /map maps a page the master never mapped, writes a secret there and reads
# it back; any other path reads the page at once. Between the page's last
# read in one request and its first in the next, the guest reads only its
# stack and the host only the stack (the answer's content type is empty):
# a stale cached translation of the page would survive to be used.
REMAPPER = r"""
#include <sys/mman.h>
#include "mtd_guest.h"
static volatile char* const page = reinterpret_cast<char*>(0x70000000);
int main() {
    if (mtd_ready() != 0) return 0;
    volatile char path[8] = {};
    mtd_request_field(MTD_FIELD_PATH, const_cast<char*>(path), sizeof path - 1);
    if (path[1] != 'm') {
        char seen = page[0];  // must fault: the page is not mapped
        mtd_respond(200, "", 0, &seen, 1);
    }
    mmap(const_cast<char*>(page), 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    const char secret[6] = {'s', 'e', 'c', 'r', 'e', 't'};
    for (int i = 0; i < 6; ++i) page[i] = secret[i];
    char body[6];
    for (int i = 0; i < 6; ++i) body[i] = page[i];
    mtd_respond(200, "", 0, body, 6);
}
"""


def test_a_page_one_request_mapped_is_gone_in_the_next(tmp_path, cache_dir):
    # One worker thread, one machine: its cached translation of the page
    # must go when the next fork unmaps the page again.
    add_tenant(tmp_path, "remapper", REMAPPER, toml='hosts = ["remapper.test"]\n')
    engine = make_engine(tmp_path, cache_dir, threads=1)
    engine.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{engine.port}", timeout=10) as c:
            get = lambda path: c.get(path, headers={"Host": "remapper.test"})
            answers = [(get("/map"), get("/")) for _ in range(3)]
    finally:
        engine.stop()
    for mapped, after in answers:
        assert (mapped.status_code, mapped.text) == (200, "secret")
        assert after.status_code == 500, after.text
        assert "load access fault at 0x70000000" in after.text


# Init leaves a value in fs0 (callee-saved, so it survives mtd_ready); each
# request reports what it finds there, and /clobber then overwrites it.
FP_KEEPER = r"""
#include <cstdio>
#include "mtd_guest.h"
int main() {
    __asm__ volatile("fmv.d.x fs0, %0" : : "r"(INIT_BITS) : "fs0");
    if (mtd_ready() != 0) return 0;
    unsigned long bits;
    __asm__ volatile("fmv.x.d %0, fs0" : "=r"(bits));
    char path[16] = {};
    mtd_request_field(MTD_FIELD_PATH, path, sizeof path - 1);
    if (path[1] == 'c') __asm__ volatile("fmv.d.x fs0, %0" : : "r"(0xdeadbeefdeadbeefull) : "fs0");
    char body[32];
    mtd_respond(200, "", 0, body, std::snprintf(body, sizeof body, "%lx", bits));
}
"""


def test_fp_registers_start_as_init_left_them(tmp_path, cache_dir):
    # One worker thread, so one machine serves both tenants in turn: its f
    # registers must be each master's in every request, whatever the last
    # request (of either tenant) left in them.
    for name, bits in (("fa", "4141414141414141"), ("fb", "4242424242424242")):
        add_tenant(tmp_path, name, FP_KEEPER.replace("INIT_BITS", f"0x{bits}ull"),
                   toml=f'hosts = ["{name}.test"]\n')
    engine = make_engine(tmp_path, cache_dir, threads=1)
    engine.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{engine.port}", timeout=10) as c:
            get = lambda host, path: c.get(path, headers={"Host": f"{host}.test"}).text
            answers = [get(host, path) for path in ("/", "/clobber", "/", "/clobber")
                       for host in ("fa", "fa", "fb")]
    finally:
        engine.stop()
    assert answers == ["4141414141414141", "4141414141414141", "4242424242424242"] * 4


# /K writes one byte to each of K pages of a .bss array, pages 0..15 first;
# /prime writes only pages 0..15, so the machine keeps translations of them
# that the next request's first writes find.
PAGE_WRITER = r"""
#include <cstdlib>
#include "mtd_guest.h"
static volatile char pages[600][4096];
int main() {
    if (mtd_ready() != 0) return 0;
    char path[16] = {};
    mtd_request_field(MTD_FIELD_PATH, path, sizeof path - 1);
    const int k = path[1] == 'p' ? 16 : std::atoi(path + 1);
    for (int i = 0; i < k; ++i) pages[i][0] = 1;
    mtd_respond(200, "", 0, "ok", 2);
}
"""


def test_memory_limit_does_not_depend_on_earlier_requests(tmp_path, cache_dir):
    # One worker, one machine: the pages it copied stay, and so do the
    # translations of the last pages written. A request must still be
    # charged for every page it writes: the largest K that fits right after
    # /prime must fit a machine that never ran this master before.
    add_tenant(tmp_path, "writer", PAGE_WRITER,
               toml='hosts = ["writer.test"]\n[limits]\nrequest_memory = 1048576\n')
    engine = make_engine(tmp_path, cache_dir, threads=1)
    engine.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{engine.port}", timeout=10) as c:
            get = lambda path: c.get(path, headers={"Host": "writer.test"}).status_code
            statuses = {}
            for k in range(1, 400):
                assert get("/prime") == 200
                statuses[k] = get(f"/{k}")
            fits = max(k for k, code in statuses.items() if code == 200)
            assert 16 < fits < 399
            assert all(statuses[k] == (200 if k <= fits else 507) for k in statuses)
            engine.reload("writer")  # a new master: the machine starts afresh
            assert get(f"/{fits}") == 200
            engine.reload("writer")
            assert get(f"/{fits + 1}") == 507
    finally:
        engine.stop()


INIT_LOOP = '#include "mtd_guest.h"\nint main() { for (volatile int i = 0;; i = i + 1) {} }\n'
INIT_EXIT = '#include "mtd_guest.h"\nint main() { return 4; }\n'
INIT_FAULT = '#include "mtd_guest.h"\nint main() { return *(volatile int *)8; }\n'
INIT_HOG = ('#include <cstring>\n#include <cstdlib>\n#include "mtd_guest.h"\n'
            'int main() { for (;;) { char *p = (char *)malloc(1 << 20); if (!p) return 1;'
            ' memset(p, 1, 1 << 20); } }\n')


@pytest.mark.parametrize("source, toml, message", [
    (INIT_LOOP, "[limits]\ninit_instructions = 5000000\n", "instruction budget exhausted"),
    (INIT_EXIT, "", "exit"),
    (INIT_FAULT, "", "load access fault at 0x8"),
    (INIT_HOG, "[limits]\ninit_memory = 16777216\n", "memory"),
], ids=["budget", "exit", "fault", "memory"])
def test_failing_init_keeps_previous_version(tmp_path, cache_dir, source, toml, message):
    folder = add_tenant(tmp_path, "t", "def on_client_request():\n    return 'text/plain', 'v1'\n",
                        filename="app.py", toml='default = true\n')
    engine = make_engine(tmp_path, cache_dir)
    engine.start()
    try:
        (folder / "app.py").unlink()
        (folder / "app.cpp").write_text(source)
        (folder / "tenant.toml").write_text("default = true\n" + toml)
        with pytest.raises(LoadFailed) as info:
            engine.reload("t")
        assert message in str(info.value)
        assert "\n" not in str(info.value)
        assert engine.tenants["t"].state == "serving" and engine.tenants["t"].version == 1
        with httpx.Client(base_url=f"http://127.0.0.1:{engine.port}") as c:
            assert c.get("/").text == "v1"
    finally:
        engine.stop()


def test_native_builtins_are_bounded_by_the_budget(tmp_path, cache_dir):
    add_tenant(tmp_path, "builtins", (GUEST_TENANTS / "builtins.cpp").read_text(),
               toml='hosts = ["builtins.test"]\n')
    engine = make_engine(tmp_path, cache_dir)
    engine.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{engine.port}", timeout=10,
                          headers={"Host": "builtins.test"}) as c:
            assert c.get("/small").text == "equal\n"  # 1 MiB: well inside the budget
            for path in ("/memcmp", "/memset", "/memmove"):  # 512 MiB each
                response = c.get(path)
                assert (response.status_code, response.text.split("\n")[0]) == \
                    (504, "mtd: budget: instruction budget exhausted"), path
            assert c.get("/small").text == "equal\n"
        errors = next(s for s in engine.stats() if s["name"] == "builtins")["errors"]
        assert (errors["budget"], errors["memory"]) == (3, 0)
    finally:
        engine.stop()
