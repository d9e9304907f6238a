"""``IPCHandler``: a stdlib ``logging.Handler`` that routes records to the master."""

from __future__ import annotations

import copy
import logging
import warnings

from stalwart.ipc_logger._config import LoggerConfig
from stalwart.ipc_logger._errors import IPCLoggerError
from stalwart.ipc_logger._worker import WorkerLogger

__all__ = ["IPCHandler"]


class IPCHandler(logging.Handler):
    """Send stdlib log records to a :class:`MasterLogger` through a :class:`WorkerLogger`.

    Attach it in worker code so ``logging.getLogger(__name__)`` calls reach
    the master with their logger name, location, ``extra=`` fields and
    traceback. The message is formatted with its arguments in the calling
    thread (arguments may change later); the master applies ``str_format``.
    Records below ``config.base_level`` are skipped early.

    Args:
        config: Shared options (the master's endpoint, batching, overflow).
        name: The worker's name in the master's worker table.
        level: The handler's own level.
        shutdown_timeout_s: How long :meth:`close` waits for the master's acknowledgement.

    """

    def __init__(
        self,
        config: LoggerConfig,
        name: str,
        level: int = logging.NOTSET,
        *,
        shutdown_timeout_s: float = 10.0,
    ) -> None:
        super().__init__(level)
        self.worker = WorkerLogger(config, name)
        self.shutdown_timeout_s = shutdown_timeout_s

    def emit(self, record: logging.LogRecord) -> None:
        """Freeze the record's message and traceback text and queue it for the master."""
        try:
            # Copied as QueueHandler.prepare does: handlers after this one must see the original.
            record = copy.copy(record)
            message = record.getMessage()
            if record.exc_info and not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            # As QueueHandler.prepare: the record crosses a thread, keep only rendered text.
            record.msg = message
            record.args = None
            record.exc_info = None
            self.worker._submit_logging(record)
        except RecursionError:
            raise
        except Exception:  # noqa: BLE001 - logging's contract: report via handleError, never raise
            self.handleError(record)

    def flush(self) -> None:
        """Nothing to do: the worker's sender thread flushes every ``flush_interval_s``."""

    def close(self) -> None:
        """Deliver everything and complete the shutdown handshake with the master.

        A master that does not acknowledge in time produces a ``RuntimeWarning``
        (``close`` runs inside ``logging.shutdown``, which must not raise).
        """
        try:
            self.worker.shutdown(timeout_s=self.shutdown_timeout_s)
        except IPCLoggerError as exc:
            warnings.warn(f"IPCHandler {self.worker.name!r}: {exc}", RuntimeWarning, stacklevel=2)
        finally:
            super().close()
