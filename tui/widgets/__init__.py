"""The console's small widgets."""

from .log_panel import LogPanel
from .rate_chart import RateChart
from .system_panel import SystemPanel
from .tenant_table import TenantTable
from .tick_box import TickBox

__all__ = ["LogPanel", "RateChart", "SystemPanel", "TenantTable", "TickBox"]
