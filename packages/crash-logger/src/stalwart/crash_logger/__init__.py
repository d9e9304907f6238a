"""Logs that survive the crash they describe: the log writer lives in another process.

Each logging call writes its record into a pipe before it returns; a separate
writer process formats, writes and flushes it. When the program dies — an
exception, a signal, ``os._exit``, SIGKILL, a segfault — everything it logged
is in the file, followed by how it ended.

Example:
    >>> from stalwart.crash_logger import crash_safe_log
    >>> @crash_safe_log(log_file_prefix="job", heartbeat_interval=5.0)
    ... def job() -> None:
    ...     import logging
    ...     logging.getLogger("job").info("working")
"""

from __future__ import annotations

from stalwart.crash_logger.__about__ import __version__
from stalwart.crash_logger._crash_logger import CrashLogger, active_crash_logger, setup_logging
from stalwart.crash_logger._decorator import crash_safe_log
from stalwart.crash_logger._errors import CrashLoggerError, LogDirError, WriterStartError
from stalwart.crash_logger._summary import (
    RunSummary,
    get_latest_log_file,
    list_log_files,
    print_log_summary,
    summarize_log_file,
    summarize_logs,
)

__all__ = [
    "CrashLogger",
    "CrashLoggerError",
    "LogDirError",
    "RunSummary",
    "WriterStartError",
    "__version__",
    "active_crash_logger",
    "crash_safe_log",
    "get_latest_log_file",
    "list_log_files",
    "print_log_summary",
    "setup_logging",
    "summarize_log_file",
    "summarize_logs",
]
