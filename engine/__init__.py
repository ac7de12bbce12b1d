"""mtd's engine: tenant discovery, the build pipeline and the facade that the
console and the tests drive (mtd.engine.Engine)."""

from .build import BuildError, Builder
from .config import EngineConfig
from .engine import Engine, LoadFailed, TenantStatus
from .tenants import TenantSpec, TenantConfigError, discover_tenants

__all__ = [
    "BuildError",
    "Builder",
    "Engine",
    "EngineConfig",
    "LoadFailed",
    "TenantConfigError",
    "TenantSpec",
    "TenantStatus",
    "discover_tenants",
]
