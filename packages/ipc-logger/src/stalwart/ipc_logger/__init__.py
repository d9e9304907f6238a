"""Many worker processes, one master, nothing lost: batched logging over ZeroMQ.

Workers build core :class:`~stalwart.core.Record` batches off the calling
thread and send them to one :class:`MasterLogger`, which routes them to
handlers (files, streams, any stdlib handler, chat webhooks). A shutdown
handshake makes the master acknowledge each worker's last ``seq``.

Example:
    >>> from stalwart.ipc_logger import FileLogHandler, LoggerConfig, MasterLogger, WorkerLogger
    >>> config = LoggerConfig(path="ipc:///tmp/app-log.sock")  # doctest: +SKIP
    >>> with MasterLogger(config, [FileLogHandler("app.log")]):  # doctest: +SKIP
    ...     worker = WorkerLogger(config, "fetcher")  # usually in another process
    ...     worker.info("hello")
    ...     worker.shutdown()

"""

from __future__ import annotations

from stalwart.ipc_logger.__about__ import __version__
from stalwart.ipc_logger._config import DEFAULT_FORMAT, LoggerConfig, Overflow, default_path
from stalwart.ipc_logger._control import request_status
from stalwart.ipc_logger._errors import (
    AddressInUseError,
    ConfigError,
    DeliveryError,
    HandlerError,
    IPCLoggerError,
    MasterUnreachableError,
    ShutdownTimeoutError,
    WebhookError,
    WorkerClosedError,
)
from stalwart.ipc_logger._format import RecordFormatter
from stalwart.ipc_logger._handlers import (
    FileLogHandler,
    LoggingHandlerAdapter,
    LogHandler,
    StreamLogHandler,
)
from stalwart.ipc_logger._ipc_handler import IPCHandler
from stalwart.ipc_logger._master import (
    MASTER_LOGGER_NAME,
    MasterLogger,
    MasterStats,
    WorkerInfo,
    WorkerState,
)
from stalwart.ipc_logger._webhooks import (
    DiscordLogHandler,
    RateLimit,
    SlackLogHandler,
    TelegramLogHandler,
    WebhookHandler,
    WebhookStats,
    split_message,
)
from stalwart.ipc_logger._worker import WorkerLogger, WorkerStats

__all__ = [
    "DEFAULT_FORMAT",
    "MASTER_LOGGER_NAME",
    "AddressInUseError",
    "ConfigError",
    "DeliveryError",
    "DiscordLogHandler",
    "FileLogHandler",
    "HandlerError",
    "IPCHandler",
    "IPCLoggerError",
    "LogHandler",
    "LoggerConfig",
    "LoggingHandlerAdapter",
    "MasterLogger",
    "MasterStats",
    "MasterUnreachableError",
    "Overflow",
    "RateLimit",
    "RecordFormatter",
    "ShutdownTimeoutError",
    "SlackLogHandler",
    "StreamLogHandler",
    "TelegramLogHandler",
    "WebhookError",
    "WebhookHandler",
    "WebhookStats",
    "WorkerClosedError",
    "WorkerInfo",
    "WorkerLogger",
    "WorkerState",
    "WorkerStats",
    "__version__",
    "default_path",
    "request_status",
    "split_message",
]
