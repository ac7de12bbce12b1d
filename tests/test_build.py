"""The build pipeline: Python -> Pythran C++ -> static RISC-V ELF, cached,
with one readable line per error."""

import struct

import pytest

from mtd.engine import BuildError, Builder
from mtd.engine.tenants import load_tenant

from conftest import TENANTS

EM_RISCV, ET_EXEC = 243, 2


def elf_header(path):
    data = path.read_bytes()[:64]
    assert data[:4] == b"\x7fELF"
    elf_class, e_type, e_machine = data[4], *struct.unpack_from("<HH", data, 16)
    return elf_class, e_type, e_machine


def test_hello_builds_to_static_riscv64_executable(bundled_elves):
    elf_class, e_type, e_machine = elf_header(bundled_elves["hello"])
    assert (elf_class, e_type, e_machine) == (2, ET_EXEC, EM_RISCV)


def test_unchanged_tenant_is_a_cache_hit(builder, bundled_elves):
    result = builder.build(load_tenant(TENANTS / "hello"))
    assert result.cached
    assert result.elf == bundled_elves["hello"]


def test_changed_source_rebuilds(builder, tmp_path):
    tenant = tmp_path / "t"
    tenant.mkdir()
    (tenant / "app.py").write_text("def on_client_request():\n    return 'text/plain', 'a'\n")
    first = builder.build(load_tenant(tenant))
    (tenant / "app.py").write_text("def on_client_request():\n    return 'text/plain', 'b'\n")
    second = builder.build(load_tenant(tenant))
    assert not first.cached and not second.cached
    assert first.elf != second.elf


def test_a_quick_build_is_used_only_until_the_optimised_one_exists(builder, tmp_path):
    tenant = tmp_path / "q"
    tenant.mkdir()
    (tenant / "app.py").write_text("def on_client_request():\n    return 'text/plain', 'q'\n")
    spec = load_tenant(tenant)
    quick = builder.build(spec, quick=True)
    assert (quick.optimised, quick.cached) == (False, False)
    again = builder.build(spec, quick=True)
    assert (again.optimised, again.cached, again.elf) == (False, True, quick.elf)
    # The optimised build of the very source the quick one compiled, even
    # if the file has changed since.
    (tenant / "app.py").write_text("def on_client_request():\n    return 'text/plain', 'changed'\n")
    optimised = builder.build(spec, source=quick.source)
    assert (optimised.optimised, optimised.cached) == (True, False)
    assert optimised.elf != quick.elf and b"'q'" in optimised.source
    assert "-O2" in (optimised.elf.parent / "build.log").read_text()
    assert "-O1" in (quick.elf.parent / "build.log").read_text()
    best = builder.build(spec, quick=True, source=quick.source)
    assert (best.optimised, best.cached, best.elf) == (True, True, optimised.elf)


def write_tenant(root, name, filename, source):
    folder = root / name
    folder.mkdir()
    (folder / filename).write_text(source)
    return load_tenant(folder)


def test_python_syntax_error_names_file_and_line(builder, tmp_path):
    spec = write_tenant(tmp_path, "broken", "app.py", "def on_client_request():\n    x = 1 +\n")
    with pytest.raises(BuildError) as info:
        builder.build(spec)
    assert str(info.value).startswith("broken: app.py:2: syntax error")
    # The README's promise: every failed build leaves its log, this one too.
    assert info.value.log == builder.failed_log("broken")
    assert "app.py:2: syntax error" in info.value.log.read_text()


def test_pythran_type_error_is_one_readable_line(builder, tmp_path):
    spec = write_tenant(tmp_path, "typed", "app.py",
                        "def f(x):\n    return x + 'a'\n\ndef on_client_request():\n"
                        "    return 'text/plain', str(f(1))\n")
    with pytest.raises(BuildError) as info:
        builder.build(spec)
    message = str(info.value)
    assert message.startswith("typed: app.py:5:")
    assert "unsupported operand" in message and "\n" not in message
    assert info.value.log is not None and info.value.log.read_text()


def test_cpp_compile_error_names_line(builder, tmp_path):
    spec = write_tenant(tmp_path, "cxx", "app.cpp",
                        '#include "mtd_guest.h"\nint main() { undefined_thing(); }\n')
    with pytest.raises(BuildError) as info:
        builder.build(spec)
    assert str(info.value).startswith("cxx: app.cpp:2: C++ error:")


def test_missing_handler_is_reported(builder, tmp_path):
    spec = write_tenant(tmp_path, "nohandler", "app.py", "def on_init():\n    pass\n")
    with pytest.raises(BuildError, match="no top-level on_client_request"):
        builder.build(spec)


def test_handler_with_wrong_arity_is_reported(builder, tmp_path):
    spec = write_tenant(tmp_path, "arity", "app.py",
                        "x = 1\n\ndef on_client_request(a, b):\n    return 'text/plain', a\n")
    with pytest.raises(BuildError) as info:
        builder.build(spec)
    assert str(info.value).startswith("arity: app.py:3: on_client_request must take")
