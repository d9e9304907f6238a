"""stalwart-monitoring: logging formatters, filters, handlers, correlation and profiles.

Everything is a real stdlib ``logging`` Formatter / Filter / Handler, usable
from :func:`logging.config.dictConfig`.

Example:
    >>> from stalwart.monitoring import build_config
    >>> build_config("testing")["root"]["handlers"]
    ['console']
"""

from __future__ import annotations

from stalwart.monitoring.__about__ import __version__
from stalwart.monitoring._buffered import BufferedHandler
from stalwart.monitoring._component import ComponentFilter, LevelRangeFilter, NamePatterns
from stalwart.monitoring._context import (
    bind_context,
    current_context,
    get_correlation_id,
    new_correlation_id,
    with_correlation,
)
from stalwart.monitoring._correlation import ContextFilter, CorrelationFilter
from stalwart.monitoring._database import DatabaseHandler, DatabaseStats, read_database
from stalwart.monitoring._errors import (
    HandlerOpenError,
    MissingDependencyError,
    MonitoringConfigError,
    MonitoringError,
    SetupInProgressError,
)
from stalwart.monitoring._formatters import (
    CONTINUATION,
    DashboardFormatter,
    DebugFormatter,
    MultilineFormatter,
    PerformanceFormatter,
    StructuredFormatter,
)
from stalwart.monitoring._guard import GuardedHandler
from stalwart.monitoring._json import JSONFormatter
from stalwart.monitoring._metrics import DurationStats, MetricsHandler, MetricsSnapshot
from stalwart.monitoring._profiles import (
    FEATURES,
    PROFILES,
    build_config,
    get_logger,
    reconfigure_logging,
    setup_logging,
)
from stalwart.monitoring._ratelimit import RateLimitFilter
from stalwart.monitoring._redaction import MASK, EnvironmentFilter, RedactionFilter, Redactor
from stalwart.monitoring._rotating import CompressedRotatingFileHandler, open_archive

__all__ = [
    "CONTINUATION",
    "FEATURES",
    "MASK",
    "PROFILES",
    "BufferedHandler",
    "ComponentFilter",
    "CompressedRotatingFileHandler",
    "ContextFilter",
    "CorrelationFilter",
    "DashboardFormatter",
    "DatabaseHandler",
    "DatabaseStats",
    "DebugFormatter",
    "DurationStats",
    "EnvironmentFilter",
    "GuardedHandler",
    "HandlerOpenError",
    "JSONFormatter",
    "LevelRangeFilter",
    "MetricsHandler",
    "MetricsSnapshot",
    "MissingDependencyError",
    "MonitoringConfigError",
    "MonitoringError",
    "MultilineFormatter",
    "NamePatterns",
    "PerformanceFormatter",
    "RateLimitFilter",
    "RedactionFilter",
    "Redactor",
    "SetupInProgressError",
    "StructuredFormatter",
    "__version__",
    "bind_context",
    "build_config",
    "current_context",
    "get_correlation_id",
    "get_logger",
    "new_correlation_id",
    "open_archive",
    "read_database",
    "reconfigure_logging",
    "setup_logging",
    "with_correlation",
]
