"""The crash logger's own lifecycle messages: written by the logger, recognised by the summary."""

from __future__ import annotations

__all__ = [
    "CLEAN_SHUTDOWN",
    "ENDED_WITHOUT_SHUTDOWN",
    "EXCEPTION",
    "HANG",
    "KIND_ATTRIBUTE",
    "LIFECYCLE_LOGGER",
    "NATIVE_CRASH",
    "SIGNAL_RECEIVED",
    "STARTED",
    "UNCAUGHT",
]

#: Logger name of every lifecycle line; the summary trusts only lines from it.
LIFECYCLE_LOGGER = "stalwart.crash_logger"
#: LogRecord attribute carrying the core ``Record.kind`` (``"heartbeat"``, ``"event"``).
KIND_ATTRIBUTE = "_stalwart_kind"

STARTED = "Crash-safe logging started"
CLEAN_SHUTDOWN = "Clean shutdown"
SIGNAL_RECEIVED = "Received signal"
EXCEPTION = "Exception in"
UNCAUGHT = "Uncaught exception in main thread"
ENDED_WITHOUT_SHUTDOWN = "ended without shutdown"
NATIVE_CRASH = "Native crash report (faulthandler)"
HANG = "Hang watchdog"
