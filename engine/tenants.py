"""Tenant discovery: one folder per tenant holding app.py (or app.cpp for a
guest written in C++ against the tenant ABI) and an optional tenant.toml."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

SOURCE_NAMES = ("app.py", "app.cpp")

# What the server's stats call requests that matched no tenant (the C++
# stats::kNoTenant); no tenant folder may take the name.
NO_TENANT = "(no tenant)"

# tenant.toml [limits] keys -> _core.Limits attributes, with their defaults.
DEFAULT_LIMITS = {
    "request_instructions": 2_000_000,
    "init_instructions": 2_000_000_000,
    "request_memory": 64 << 20,
    "init_memory": 256 << 20,
    "response_bytes": 16 << 20,
}


class TenantConfigError(ValueError):
    """A tenant folder or tenant.toml that cannot be used, with the reason."""


@dataclass
class TenantSpec:
    name: str
    directory: Path
    source: Path
    hosts: list[str] = field(default_factory=list)
    default: bool = False
    limits: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_LIMITS))

    @property
    def language(self) -> str:
        return "python" if self.source.suffix == ".py" else "cpp"


def load_tenant(directory: Path) -> TenantSpec:
    directory = Path(directory)
    if directory.name == NO_TENANT:
        raise TenantConfigError(f"{directory}: '{NO_TENANT}' is reserved for requests no tenant takes")
    sources = [directory / n for n in SOURCE_NAMES if (directory / n).is_file()]
    if not sources:
        raise TenantConfigError(f"{directory}: no app.py or app.cpp")
    if len(sources) > 1:
        raise TenantConfigError(f"{directory}: has both app.py and app.cpp; keep one")
    spec = TenantSpec(name=directory.name, directory=directory, source=sources[0])
    toml_path = directory / "tenant.toml"
    if toml_path.is_file():
        _apply_toml(spec, toml_path)
    return spec


def _apply_toml(spec: TenantSpec, path: Path) -> None:
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise TenantConfigError(f"{path}: {e}") from None
    unknown = set(data) - {"hosts", "default", "limits"}
    if unknown:
        raise TenantConfigError(f"{path}: unknown key(s) {', '.join(sorted(unknown))}")
    hosts = data.get("hosts", [])
    if not isinstance(hosts, list) or not all(isinstance(h, str) and h for h in hosts):
        raise TenantConfigError(f"{path}: hosts must be a list of host names")
    spec.hosts = [h.lower() for h in hosts]
    default = data.get("default", False)
    if not isinstance(default, bool):
        raise TenantConfigError(f"{path}: default must be true or false")
    spec.default = default
    limits = data.get("limits", {})
    if not isinstance(limits, dict):
        raise TenantConfigError(f"{path}: [limits] must be a table")
    for key, value in limits.items():
        if key not in DEFAULT_LIMITS:
            raise TenantConfigError(
                f"{path}: unknown limit '{key}' (known: {', '.join(DEFAULT_LIMITS)})"
            )
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise TenantConfigError(f"{path}: limit '{key}' must be a positive integer")
        spec.limits[key] = value


def discover_tenants(root: Path) -> tuple[list[TenantSpec], list[TenantConfigError]]:
    """Every tenant folder under root, sorted by name, plus the folders that
    could not be read (reported, never fatal to the others)."""
    root = Path(root)
    if not root.is_dir():
        raise TenantConfigError(f"tenants directory {root} does not exist")
    specs, errors = [], []
    for directory in sorted(p for p in root.iterdir() if p.is_dir()):
        if directory.name.startswith((".", "_")):
            continue
        try:
            specs.append(load_tenant(directory))
        except TenantConfigError as e:
            errors.append(e)
    defaults = [s.name for s in specs if s.default]
    if len(defaults) > 1:
        errors.append(TenantConfigError(f"several default tenants ({', '.join(defaults)}); "
                                        f"using {defaults[0]}"))
        for spec in specs:
            spec.default = spec.name == defaults[0]
    return specs, errors
