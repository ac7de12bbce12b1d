"""The console's small widgets."""

from .log_panel import LogPanel
from .rate_chart import RateChart
from .system_panel import SystemPanel
from .tenant_table import TenantTable

__all__ = ["LogPanel", "RateChart", "SystemPanel", "TenantTable"]
