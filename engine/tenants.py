"""Tenant discovery: one folder per tenant holding app.py (or app.cpp for a
guest written in C++ against the tenant ABI) and an optional tenant.toml."""

from __future__ import annotations

import re
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


# The most a tenant.toml may ask for: the server's memory and CPU are shared,
# and a folder's own file must not be able to claim all of them.
MAX_LIMITS = {
    "request_instructions": 1_000_000_000,
    "init_instructions": 20_000_000_000,
    "request_memory": 1 << 30,
    "init_memory": 1 << 30,
    "response_bytes": 64 << 20,
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


# A tenant's name (its folder's) starts every line of its log output and
# names its files: letters, digits, '.', '_' and '-' only, so it can neither
# carry control characters nor look like another tenant's prefix.
TENANT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def load_tenant(directory: Path) -> TenantSpec:
    directory = Path(directory)
    if not TENANT_NAME.fullmatch(directory.name):
        raise TenantConfigError(f"{directory}: a tenant folder's name must be letters, digits, "
                                f"'.', '_' or '-' (at most 64, not starting with '.', '_' or '-')")
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
        if value > MAX_LIMITS[key]:
            raise TenantConfigError(f"{path}: limit '{key}' = {value:,} is over the server's "
                                    f"maximum of {MAX_LIMITS[key]:,}")
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
    errors.extend(_refuse_contested_routes(specs))
    return specs, errors


def normalize_host(host: str) -> str:
    """The form routing compares (cpp/tenants/registry.cpp normalize_host):
    lower case, no port, no trailing dot."""
    host = host.lower()
    if host.startswith("["):
        host = host[:host.find("]") + 1] if "]" in host else host
    elif host.count(":") == 1:
        host = host.split(":")[0]
    return host[:-1] if host.endswith(".") else host


def _refuse_contested_routes(specs: list[TenantSpec]) -> list[TenantConfigError]:
    """A host claimed by several tenants, or the default claimed by several,
    goes to none of them: neither the order of names nor which build ends
    first may decide who takes the traffic of another. Each claimant keeps
    its other hosts and gets an error naming the rest. (Once serving, a
    tenant keeps its hosts: the server refuses a later claim, registry.cpp.)"""
    claims: dict[str, list[TenantSpec]] = {}
    for spec in specs:
        for host in dict.fromkeys(normalize_host(h) for h in spec.hosts):
            claims.setdefault(host, []).append(spec)
    errors = []
    for host, claimants in claims.items():
        if len(claimants) > 1:
            names = ", ".join(s.name for s in claimants)
            errors.append(TenantConfigError(f"host '{host}' is claimed by several tenants ({names}); "
                                            f"none of them serves it"))
            for spec in claimants:
                spec.hosts = [h for h in spec.hosts if normalize_host(h) != host]
    defaults = [s for s in specs if s.default]
    if len(defaults) > 1:
        errors.append(TenantConfigError(f"several tenants ask to be the default "
                                        f"({', '.join(s.name for s in defaults)}); none of them is"))
        for spec in defaults:
            spec.default = False
    return errors
