"""The ``logging.Handler`` that ships each record to the writer process synchronously."""

from __future__ import annotations

import itertools
import logging
import os
from pathlib import Path

from stalwart.core import Kind, Record
from stalwart.crash_logger._events import KIND_ATTRIBUTE, LIFECYCLE_LOGGER
from stalwart.crash_logger._format import format_record
from stalwart.crash_logger._protocol import records_frame

__all__ = ["PipeHandler"]


class PipeHandler(logging.Handler):
    """Write every record into the writer's pipe before the logging call returns.

    There is no queue and no feeder thread: once ``emit`` returns, the record
    is in the kernel's pipe buffer and survives ``os._exit``, SIGKILL or a
    segfault of this process. If the pipe is unusable (the writer died, or
    this is a forked child, which must not hold the pipe) records are appended
    straight to the log file instead, one ``write`` per record.

    Args:
        fd: Write end of the record pipe.
        log_file: The run's log file, for the direct fallback.
        level: Minimum level of records to ship.
    """

    def __init__(self, fd: int, log_file: Path, level: int = logging.NOTSET) -> None:
        """Ship records into ``fd``."""
        super().__init__(level)
        self.log_file = log_file
        self._fd: int | None = fd
        self._direct_fd: int | None = None
        self._seq = itertools.count()
        # Set while this thread is inside a pipe write. A signal handler that logs in the middle
        # of one (a frame larger than PIPE_BUF, or a full pipe) must not interleave its frame, and
        # must not wait either: the default action may end the process right after it logs.
        self._writing = False

    def emit(self, record: logging.LogRecord) -> None:
        """Convert ``record`` to a core ``Record`` and write it to the pipe (or the file)."""
        try:
            kind: Kind = getattr(record, KIND_ATTRIBUTE, "log")
            converted = Record.from_logging(record, kind=kind, seq=next(self._seq))
            self._send(records_frame([converted]), converted)
        except Exception:  # noqa: BLE001 - logging's contract: report via handleError, never raise
            self.handleError(record)

    def emit_always(self, record: logging.LogRecord) -> None:
        """Emit ``record`` whatever this handler's level and filters say (lifecycle lines)."""
        self.acquire()
        try:
            self.emit(record)
        finally:
            self.release()

    def _send(self, frame: bytes, record: Record) -> None:
        if self._writing:
            # Re-entered from a signal handler: append this line to the file directly.
            self._write_direct(record)
            return
        self._writing = True
        try:
            self._write_one(frame, record)
        finally:
            self._writing = False

    def _write_one(self, frame: bytes, record: Record) -> None:
        fd = self._fd
        if fd is not None:
            try:
                _write_all(fd, frame)
                return
            except BrokenPipeError:
                self._fd = None
                _close_quietly(fd)
                self._write_direct(
                    _lifecycle_record(
                        logging.ERROR,
                        "log writer process is gone; writing records directly to the file from now on",
                    )
                )
        self._write_direct(record)

    def _write_direct(self, record: Record) -> None:
        # O_APPEND: each line lands whole at the end, even while the writer appends too.
        _write_all(self.open_direct(), format_record(record).encode("utf-8", "backslashreplace"))

    def detach_pipe(self) -> int | None:
        """Stop using the pipe (forked child, or shutdown); return its descriptor, not closed."""
        fd, self._fd = self._fd, None
        return fd

    def open_direct(self) -> int:
        """Switch to appending straight to the file and return that descriptor."""
        if self._direct_fd is None:
            self._direct_fd = os.open(self.log_file, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
        return self._direct_fd

    def reset_after_fork(self) -> None:
        """Forget an in-progress write another thread of the parent was making (child side of fork)."""
        self._writing = False

    def close(self) -> None:
        """Close the direct-append descriptor if one was opened; the pipe belongs to the owner."""
        self.acquire()
        try:
            if self._direct_fd is not None:
                _close_quietly(self._direct_fd)
                self._direct_fd = None
        finally:
            self.release()
        super().close()


def _lifecycle_record(level: int, message: str) -> Record:
    return Record.create(level, LIFECYCLE_LOGGER, message, kind="event")


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _close_quietly(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        # Already closed (e.g. by an at-fork hook); nothing left to release.
        return
