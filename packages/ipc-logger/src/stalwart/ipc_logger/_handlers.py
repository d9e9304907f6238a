"""Batch handlers the master pushes records to: file, stream, and any stdlib handler."""

from __future__ import annotations

import abc
import logging
import os
import sys
from collections.abc import Sequence
from typing import BinaryIO, TextIO

from stalwart.core import Record, encode_jsonl
from stalwart.ipc_logger._config import DEFAULT_FORMAT
from stalwart.ipc_logger._errors import HandlerError
from stalwart.ipc_logger._format import RecordFormatter

__all__ = ["FileLogHandler", "LogHandler", "LoggingHandlerAdapter", "StreamLogHandler"]


class LogHandler(abc.ABC):
    """Base class of master-side handlers: they receive whole batches.

    The master calls :meth:`push` from its receive thread, one batch at a
    time, with records at or above both ``config.base_level`` and this
    handler's :attr:`level`. A handler that raises is isolated by the master
    (its error is counted and logged; the other handlers keep receiving).
    Handlers that do slow I/O (webhooks) queue and work in their own thread.

    Args:
        level: Records below this level are not pushed to this handler.
        formatter: How to render text; ``None`` means the master's
            ``config.str_format``.

    """

    def __init__(self, *, level: int = logging.NOTSET, formatter: RecordFormatter | None = None) -> None:
        self.level = int(level)
        self.formatter = formatter

    def set_formatter(self, formatter: RecordFormatter) -> None:
        """Use ``formatter`` to render text."""
        self.formatter = formatter

    def _formatter(self) -> RecordFormatter:
        formatter = self.formatter
        if formatter is None:
            formatter = self.formatter = RecordFormatter(DEFAULT_FORMAT)
        return formatter

    def format(self, record: Record) -> str:
        """Render one record as text with this handler's formatter."""
        return self._formatter().format(record)

    def format_batch(self, records: Sequence[Record]) -> str:
        """Render records as text, each followed by a newline."""
        return self._formatter().format_batch(records)

    @abc.abstractmethod
    def push(self, records: Sequence[Record]) -> None:
        """Handle one batch of records, in order."""

    def close(self) -> None:  # noqa: B027 - optional hook, most handlers keep nothing open
        """Release resources; called once by the master's ``shutdown``."""

    def __repr__(self) -> str:
        """Show the class name."""
        return f"{type(self).__name__}()"


class FileLogHandler(LogHandler):
    """Append records to a file: formatted text lines, or JSON Lines.

    One ``write`` per batch, flushed to the OS after every batch (not
    fsynced: a machine crash may lose the last batches, a process crash does not).

    Args:
        path: The file; any name and suffix.
        create: Create missing parent directories (else they must exist).
        json_lines: Write each record as one JSON object per line (lossless,
            readable back with :func:`stalwart.core.iter_jsonl`) instead of text.
        level: Minimum level for this handler.
        formatter: Text formatter (``None``: the master's ``str_format``).

    Raises:
        HandlerError: If the file cannot be opened for appending.

    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        create: bool = True,
        *,
        json_lines: bool = False,
        level: int = logging.NOTSET,
        formatter: RecordFormatter | None = None,
    ) -> None:
        super().__init__(level=level, formatter=formatter)
        self.path = os.fspath(path)
        self._json_lines = json_lines
        parent = os.path.dirname(os.path.abspath(self.path))
        try:
            if create:
                os.makedirs(parent, exist_ok=True)
            elif not os.path.isdir(parent):
                raise HandlerError(self.path, f"directory {parent} does not exist (create=False)")
            self._file: BinaryIO = open(self.path, "ab")  # noqa: SIM115 - lives as long as the handler
        except OSError as exc:
            raise HandlerError(self.path, f"cannot open for appending: {exc}") from exc

    def push(self, records: Sequence[Record]) -> None:
        """Append the batch and flush it to the OS."""
        if self._json_lines:
            data = encode_jsonl(records)
        else:
            data = self.format_batch(records).encode("utf-8", "backslashreplace")
        self._file.write(data)
        self._file.flush()

    def close(self) -> None:
        """Close the file."""
        self._file.close()

    def __repr__(self) -> str:
        """Show the path."""
        return f"FileLogHandler({self.path!r})"


class StreamLogHandler(LogHandler):
    """Write formatted records to a text stream (``sys.stderr`` by default).

    Args:
        stream: The stream; ``None`` means the current ``sys.stderr`` at each write.
        level: Minimum level for this handler.
        formatter: Text formatter (``None``: the master's ``str_format``).

    """

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        level: int = logging.NOTSET,
        formatter: RecordFormatter | None = None,
    ) -> None:
        super().__init__(level=level, formatter=formatter)
        self._stream = stream

    def push(self, records: Sequence[Record]) -> None:
        """Write the batch, one entry per line, and flush."""
        stream = self._stream if self._stream is not None else sys.stderr
        stream.write(self.format_batch(records))
        stream.flush()


class LoggingHandlerAdapter(LogHandler):
    """Feed records to any stdlib :class:`logging.Handler` (database, rotating file, ...).

    Each record becomes a ``LogRecord`` via :meth:`Record.to_logging` (extra
    fields become attributes) and goes through the handler's own level,
    filters and formatter. The adapter owns the handler: :meth:`close` closes it.

    Stdlib handlers report their own failures through ``handleError`` instead
    of raising. During :meth:`push` the adapter captures those calls and, once
    the batch is done, raises one :class:`HandlerError` for it, so the master
    counts the failure in ``stats().handler_errors`` (and logs it, throttled).

    Args:
        handler: The stdlib handler.
        level: Minimum level for this adapter (the handler's own level applies too).

    """

    def __init__(self, handler: logging.Handler, *, level: int = logging.NOTSET) -> None:
        super().__init__(level=level)
        self.handler = handler

    def push(self, records: Sequence[Record]) -> None:
        """Hand each record to the stdlib handler, in order.

        Raises:
            HandlerError: Once per batch, if the handler reported failures via
                ``handleError``; it says how many records failed and chains the first error.

        """
        handler = self.handler
        failures: list[BaseException | None] = []

        def capture(_record: logging.LogRecord) -> None:
            # Called inside the handler's ``except`` block: the exception is the current one.
            failures.append(sys.exc_info()[1])

        # Shadowed on the instance for this batch only; an instance override is put back after.
        attributes = vars(handler)
        own = attributes.get("handleError")
        attributes["handleError"] = capture
        try:
            for record in records:
                if record.level >= handler.level:
                    handler.handle(record.to_logging())
        finally:
            if own is None:
                del attributes["handleError"]
            else:
                attributes["handleError"] = own
        if failures:
            first = failures[0]
            raise HandlerError(
                handler, f"handleError reported {len(failures)} of {len(records)} records failed: {first!r}"
            ) from first

    def close(self) -> None:
        """Flush and close the stdlib handler."""
        self.handler.flush()
        self.handler.close()

    def __repr__(self) -> str:
        """Show the wrapped handler."""
        return f"LoggingHandlerAdapter({self.handler!r})"
