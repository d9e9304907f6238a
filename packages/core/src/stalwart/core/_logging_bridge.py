"""Conversion between stdlib :class:`logging.LogRecord` and :class:`~stalwart.core.Record`."""

from __future__ import annotations

import functools
import logging
import math
import os
from typing import TYPE_CHECKING, Any

from stalwart.core._jsonable import to_jsonable
from stalwart.core._level import level_name

if TYPE_CHECKING:
    from stalwart.core._record import Kind, Record

__all__ = ["format_message", "record_from_logging", "record_to_logging", "standard_attributes"]


@functools.cache
def _blank_attributes() -> frozenset[str]:
    return frozenset(vars(logging.LogRecord("", logging.INFO, "", 0, "", (), None)))


@functools.cache
def standard_attributes() -> frozenset[str]:
    """Return the attribute names every ``LogRecord`` has, plus those formatters add.

    Anything else on a record's ``__dict__`` came from the user's ``extra=``.
    """
    return _blank_attributes() | {"message", "asctime", "taskName"}


def format_message(record: logging.LogRecord) -> str:
    """Return ``record.getMessage()``, or a description of why formatting failed.

    A call like ``log.info("%d items", "x")`` must still leave a trace: the
    template, the arguments and the error are all kept in the text.
    """
    try:
        return record.getMessage()
    except Exception as exc:  # noqa: BLE001 - any __str__/__format__ may raise anything
        return (
            f"{record.msg!r} % {record.args!r} "
            f"[message formatting failed: {type(exc).__name__}: {exc}]"
        )


def _formatted_exception(record: logging.LogRecord) -> str | None:
    if record.exc_text:
        return record.exc_text
    if record.exc_info and record.exc_info[0] is not None:
        return logging.Formatter().formatException(record.exc_info)
    return None


def _timestamp_ns(record: logging.LogRecord) -> int:
    """Return ``record.created`` in nanoseconds, agreeing with what formatters print.

    Formatters print the whole second of ``created`` (``asctime``) and
    ``record.msecs``; a plain ``int(created * 1e9)`` can land a millisecond
    early through float error, so the fraction is kept inside that millisecond.
    """
    seconds = int(record.created)
    fraction = round((record.created - seconds) * 1_000_000_000)
    low = int(record.msecs) * 1_000_000
    return seconds * 1_000_000_000 + min(max(fraction, low), low + 999_999)


def _created_from_ns(ts_ns: int) -> float:
    """Return ``ts_ns`` as float seconds whose whole second is still ``ts_ns``'s (no rounding up)."""
    seconds = ts_ns // 1_000_000_000
    created = ts_ns / 1_000_000_000
    return created if int(created) == seconds else math.nextafter(float(seconds + 1), 0.0)


def record_from_logging(
    cls: type[Record], record: logging.LogRecord, *, kind: Kind, seq: int, host: str
) -> Record:
    """Build a ``cls`` from a stdlib record; see :meth:`Record.from_logging`."""
    attributes = vars(record)
    extra: dict[str, Any] = {}
    correlation_id: str | None = None
    # Hot path: a record with no more attributes than a blank one has no extras,
    # so the set difference (about a third of the conversion's cost) is skipped.
    user_keys = (
        attributes.keys() - standard_attributes()
        if len(attributes) > len(_blank_attributes())
        else ()
    )
    for key in user_keys:
        if key.startswith("_"):
            continue
        value = attributes[key]
        if key == "correlation_id":
            correlation_id = None if value is None else str(value)
        else:
            extra[key] = to_jsonable(value)
    return cls(
        ts_ns=_timestamp_ns(record),
        level=record.levelno,
        logger=record.name,
        message=format_message(record),
        kind=kind,
        pid=record.process or 0,
        process=record.processName or "",
        thread=record.thread or 0,
        thread_name=record.threadName or "",
        host=host,
        seq=seq,
        module=record.module,
        func=record.funcName,
        line=record.lineno,
        path=record.pathname,
        exc=_formatted_exception(record),
        stack=record.stack_info,
        correlation_id=correlation_id,
        extra=extra,
    )


def record_to_logging(record: Record) -> logging.LogRecord:
    """Build a stdlib record that formats like the one ``record`` came from."""
    path = record.path or ""
    out = logging.LogRecord(
        name=record.logger,
        level=record.level,
        pathname=path,
        lineno=record.line or 0,
        msg=record.message,
        args=None,
        exc_info=None,
        func=record.func,
        sinfo=record.stack,
    )
    created = _created_from_ns(record.ts_ns)
    # Shift relativeCreated (measured from logging's start) by how far back the record was made.
    out.relativeCreated += (created - out.created) * 1000
    out.created = created
    out.msecs = float((record.ts_ns % 1_000_000_000) // 1_000_000)
    out.levelname = level_name(record.level)
    out.module = record.module or (os.path.splitext(out.filename)[0] if path else "")
    out.process = record.pid
    out.processName = record.process
    out.thread = record.thread
    out.threadName = record.thread_name
    out.exc_text = record.exc
    standard = standard_attributes()
    for key, value in record.extra.items():
        if key not in standard:
            setattr(out, key, value)
    if record.correlation_id is not None:
        out.correlation_id = record.correlation_id
    return out
