"""The console's screens."""

from .dashboard import DashboardScreen
from .detail import TenantDetailScreen
from .help import HelpScreen
from .loadtest import LoadTestScreen
from .prompts import ExportPrompt, FilterPrompt, LoadTestForm, LoadTestRequest
from .request import RequestScreen
from .tenant_log import TenantLogScreen

__all__ = ["DashboardScreen", "ExportPrompt", "FilterPrompt", "HelpScreen", "LoadTestForm",
           "LoadTestRequest", "LoadTestScreen", "RequestScreen", "TenantDetailScreen",
           "TenantLogScreen"]
