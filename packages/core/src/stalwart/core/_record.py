"""The one record schema every stalwart package speaks."""

from __future__ import annotations

import functools
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, Literal

import msgspec
from stalwart.core._errors import RecordDecodeError, RecordEncodeError, byte_offset_from_message
from stalwart.core._jsonable import to_jsonable, to_utf8_text
from stalwart.core._logging_bridge import record_from_logging, record_to_logging

__all__ = ["JSON_DECODER", "JSON_ENCODER", "Kind", "Record", "current_host", "encodable", "encode_records"]

#: What a record is about: a log line, a liveness signal, a discrete event or a measurement.
Kind = Literal["log", "heartbeat", "event", "metric"]


@functools.cache
def current_host() -> str:
    """Return this machine's host name (looked up once per process)."""
    return socket.gethostname()


def _current_process_name() -> str:
    # As logging does: only ask multiprocessing if the program already imported it.
    mp = sys.modules.get("multiprocessing")
    if mp is None:
        return "MainProcess"
    try:
        return str(mp.current_process().name)
    except Exception:  # noqa: BLE001 - mirrors logging.LogRecord's own guard
        return "MainProcess"


# gc=False: records hold only JSON-like data and are never part of a reference
# cycle, so the cycle collector need not track them; this makes decoding large
# batches markedly faster (see benchmarks/bench_core.py).
class Record(msgspec.Struct, frozen=True, omit_defaults=True, kw_only=True, gc=False):
    """One immutable log record, event, heartbeat or metric.

    Every stalwart package produces and consumes this type: it crosses pipes
    and sockets as msgpack (:func:`~stalwart.core.encode_batch`) and lands in
    files as JSON (:meth:`to_json`, :func:`~stalwart.core.encode_jsonl`).

    Attributes:
        ts_ns: When it happened, Unix epoch nanoseconds.
        level: Numeric severity (stdlib numbers; see :class:`~stalwart.core.Level`).
        logger: Name of the logger (or component) that produced it.
        message: The message, already formatted with its arguments.
        kind: ``"log"``, ``"heartbeat"``, ``"event"`` or ``"metric"``.
        pid: Process id of the producer.
        process: Process name of the producer.
        thread: Thread identifier of the producer.
        thread_name: Thread name of the producer.
        host: Host name of the producer.
        seq: Per-source sequence number, so a receiver can count what was lost.
        module: Module name where the call was made, if known.
        func: Function name where the call was made, if known.
        line: Line number where the call was made, if known.
        path: Source file path where the call was made, if known.
        exc: Formatted traceback text, if an exception was attached.
        stack: Formatted stack text (``stack_info=True``), if requested.
        correlation_id: Identifier tying records of one request/job together.
        extra: User fields; JSON-able values only (see :func:`to_jsonable`).
    """

    ts_ns: int
    level: int
    logger: str
    message: str
    kind: Kind = "log"
    pid: int = 0
    process: str = ""
    thread: int = 0
    thread_name: str = ""
    host: str = ""
    seq: int = 0
    module: str | None = None
    func: str | None = None
    line: int | None = None
    path: str | None = None
    exc: str | None = None
    stack: str | None = None
    correlation_id: str | None = None
    extra: dict[str, Any] = msgspec.field(default_factory=dict)

    @classmethod
    def create(
        cls,
        level: int,
        logger: str,
        message: str,
        *,
        kind: Kind = "log",
        seq: int = 0,
        extra: dict[str, Any] | None = None,
        correlation_id: str | None = None,
        exc: str | None = None,
    ) -> Record:
        """Build a record stamped with the current time, process, thread and host.

        Args:
            level: Numeric severity.
            logger: Logger or component name.
            message: The already formatted message.
            kind: What the record is about.
            seq: The producer's sequence number for this record.
            extra: User fields; values that are not JSON-able are stored as ``repr``.
            correlation_id: Optional correlation identifier.
            exc: Optional formatted traceback text.

        Returns:
            The new record.
        """
        current = threading.current_thread()
        return cls(
            ts_ns=time.time_ns(),
            level=int(level),
            logger=logger,
            message=message,
            kind=kind,
            pid=os.getpid(),
            process=_current_process_name(),
            thread=current.ident or 0,
            thread_name=current.name,
            host=current_host(),
            seq=seq,
            exc=exc,
            correlation_id=correlation_id,
            extra=to_jsonable(extra) if extra else {},
        )

    @classmethod
    def from_logging(cls, record: logging.LogRecord, *, kind: Kind = "log", seq: int = 0) -> Record:
        """Convert a stdlib ``LogRecord``.

        Keeps the message formatted with its arguments (or, if formatting
        fails, the template, arguments and error), level, logger name,
        pid/process/thread, module/function/line/path, exception and stack
        text, ``correlation_id`` and every user ``extra=`` field (values that
        are not JSON-able are stored as their ``repr``).

        Args:
            record: The stdlib record.
            kind: What the record is about.
            seq: The producer's sequence number for this record.

        Returns:
            The equivalent record.
        """
        return record_from_logging(cls, record, kind=kind, seq=seq, host=current_host())

    def to_logging(self) -> logging.LogRecord:
        """Return a stdlib ``LogRecord`` that stdlib formatters render as the original.

        Extra fields and ``correlation_id`` come back as record attributes, the
        traceback as ``exc_text``.
        """
        return record_to_logging(self)

    def to_json(self) -> bytes:
        """Encode this record as one compact JSON object (UTF-8, no newline)."""
        return encode_records(JSON_ENCODER.encode, self)

    @classmethod
    def from_json(cls, data: bytes | str) -> Record:
        """Decode one record from JSON.

        Raises:
            RecordDecodeError: If ``data`` is not valid JSON for a record.
        """
        try:
            return JSON_DECODER.decode(data)
        except msgspec.DecodeError as exc:
            raise RecordDecodeError(str(exc), offset=byte_offset_from_message(str(exc))) from exc


_TEXT_FIELDS = (
    "logger", "message", "process", "thread_name", "host",
    "module", "func", "path", "exc", "stack", "correlation_id",
)  # fmt: skip
# What msgspec raises for text with lone surrogates, unsupported objects and out-of-range ints.
_UNENCODABLE = (UnicodeEncodeError, TypeError, OverflowError)


def encodable(record: Record) -> Record:
    r"""Return ``record`` with every text field UTF-8 encodable and ``extra`` JSON-able.

    Lone surrogates become ``\udcxx`` escapes and values in ``extra`` that
    are not JSON-able become their ``repr`` (see :func:`to_jsonable`), so the
    information is kept as text rather than lost with the record.
    """
    changes: dict[str, Any] = {"extra": to_jsonable(record.extra)}
    for name in _TEXT_FIELDS:
        value = getattr(record, name)
        if isinstance(value, str):
            changes[name] = to_utf8_text(value)
    return msgspec.structs.replace(record, **changes)


def encode_records(encode: Callable[[Any], bytes], value: Record | list[Record]) -> bytes:
    """Encode a record or list of records, making them :func:`encodable` only if the fast path fails.

    Raises:
        RecordEncodeError: If even the cleaned records cannot be encoded.
    """
    try:
        return encode(value)
    except _UNENCODABLE:
        cleaned = encodable(value) if isinstance(value, Record) else [encodable(r) for r in value]
    try:
        return encode(cleaned)
    except _UNENCODABLE as exc:
        raise RecordEncodeError(f"cannot encode record: {type(exc).__name__}: {exc}") from exc


#: Shared JSON codec for single records (used by the batch helpers too).
JSON_ENCODER = msgspec.json.Encoder()
JSON_DECODER = msgspec.json.Decoder(Record)
