"""Errors raised by the crash logger."""

from __future__ import annotations

from stalwart.core import StalwartError

__all__ = ["CrashLoggerError", "LogDirError", "WriterStartError"]


class CrashLoggerError(StalwartError):
    """Base class of every error the crash logger raises."""


class LogDirError(CrashLoggerError):
    """The log directory or log file cannot be created or written.

    Attributes:
        path: The directory or file at fault.
    """

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        super().__init__(f"cannot create a log file under {path!r}: {reason}")


class WriterStartError(CrashLoggerError):
    """The separate log-writer process could not be started or never became ready."""
