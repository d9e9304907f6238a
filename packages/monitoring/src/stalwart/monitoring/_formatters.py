"""Text formatters: structured key=value, dashboard columns, debug blocks, minimal, multi-line.

Every formatter here keeps one record recognisable as one record: single-line
formats escape line breaks and control characters, block formats indent every
continuation line, so newlines in user data can never forge a record.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any

import msgspec
from stalwart.monitoring._fields import (
    escape_line,
    exception_text,
    iso_utc,
    message_and_extras,
    record_message,
)
from stalwart.monitoring._json import json_default

__all__ = [
    "CONTINUATION",
    "DashboardFormatter",
    "DebugFormatter",
    "MultilineFormatter",
    "PerformanceFormatter",
    "StructuredFormatter",
]

#: Prefix of every continuation line of a block format; a record's first line never starts with it.
CONTINUATION = "  | "

_BARE_VALUE = re.compile(r"[^\s=\"\\]+")
_KEY_CHARS = re.compile(r"[^A-Za-z0-9_.\-]")
_ENCODER = msgspec.json.Encoder(enc_hook=json_default)
# The fields StructuredFormatter writes itself; an extra with one of these names is written as ``extra.<name>``.
_LOGFMT_FIXED = frozenset({"ts", "level", "logger", "correlation_id", "msg", "exc", "stack"})


def _logfmt_key(key: str) -> str:
    return _KEY_CHARS.sub("_", key) or "_"


def _logfmt_pairs(extras: dict[str, Any], fixed: frozenset[str] = frozenset()) -> list[str]:
    """Return ``key=value`` for each extra; a name already used gets ``.2``, ``.3`` ... so none is lost.

    Names are made logfmt-safe (``"user id"`` -> ``user_id``), so two extras can
    meet on one name; an extra named like one of the line's ``fixed`` fields is
    written as ``extra.<name>``.
    """
    used = set(fixed)
    pairs = []
    for key, value in extras.items():
        base = _logfmt_key(key)
        if base in fixed:
            base = f"extra.{base}"
        name = base
        number = 1
        while name in used:
            number += 1
            name = f"{base}.{number}"
        used.add(name)
        pairs.append(f"{name}={_logfmt_value(value)}")
    return pairs


def _logfmt_value(value: Any) -> str:
    if isinstance(value, str):
        text = value
    elif value is None or isinstance(value, (bool, int, float)):
        text = "null" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
    else:
        try:
            text = _ENCODER.encode(value).decode()
        except (TypeError, ValueError, OverflowError, RecursionError):
            text = repr(value)
    if text and _BARE_VALUE.fullmatch(text) and text.isprintable():
        return text
    return '"' + escape_line(text.replace("\\", "\\\\").replace('"', '\\"')) + '"'


def _correlation(record: logging.LogRecord) -> str | None:
    value = record.__dict__.get("correlation_id")
    return None if value is None else str(value)


class StructuredFormatter(logging.Formatter):
    r"""Format records as logfmt: ``key=value`` pairs on one line.

    Fields, in order: ``ts`` (ISO 8601 UTC), ``level``, ``logger``,
    ``correlation_id`` (when set), ``msg``, then every extra / bound-context
    field, then ``exc`` (the traceback, escaped). An extra named like one of
    those fields is written as ``extra.<name>`` (``extra.level=INFO``), so
    user data can never forge or shadow them. Values with spaces, quotes,
    ``=`` or control characters are double-quoted with backslash escapes
    (``\\n``, ``\\"``, ``\\\\``, ``\\xNN``); mappings and lists are JSON.
    """

    def format(self, record: logging.LogRecord) -> str:
        """Return ``record`` as one logfmt line."""
        parts = [
            f"ts={iso_utc(record.created)}",
            f"level={_logfmt_value(record.levelname)}",
            f"logger={_logfmt_value(record.name)}",
        ]
        correlation_id = _correlation(record)
        if correlation_id is not None:
            parts.append(f"correlation_id={_logfmt_value(correlation_id)}")
        message, extras = message_and_extras(record)
        parts.append(f"msg={_logfmt_value(message)}")
        parts.extend(_logfmt_pairs(extras, _LOGFMT_FIXED))
        exc = exception_text(record, self)
        if exc:
            parts.append(f"exc={_logfmt_value(exc)}")
        if record.stack_info:
            parts.append(f"stack={_logfmt_value(record.stack_info)}")
        return " ".join(parts)


def _column(text: str) -> str:
    r"""Return ``text`` escaped to one line with ``|`` as ``\|``, so it can never open a column of its own."""
    return escape_line(text).replace("|", "\\|")


class DashboardFormatter(logging.Formatter):
    r"""Format records as fixed columns for a live view: ``time | LEVEL | logger | correlation | message``.

    The time is ``HH:MM:SS.ffffff`` UTC, the level is padded to 8 characters,
    the correlation column is ``-`` when unset (a ``|`` in the logger name or
    correlation id, which may come from a request header, is written ``\|``),
    and the message (with the traceback appended) is escaped to one line and
    comes last, so a ``|`` inside it never shifts a column.
    """

    def format(self, record: logging.LogRecord) -> str:
        """Return ``record`` as one dashboard line."""
        message = record_message(record)
        exc = exception_text(record, self)
        if exc:
            message = f"{message}\n{exc}"
        correlation_id = _correlation(record) or "-"
        return (
            f"{iso_utc(record.created)[11:26]} | {_column(record.levelname):<8} | {_column(record.name)} | "
            f"{_column(correlation_id)} | {escape_line(message)}"
        )


class PerformanceFormatter(logging.Formatter):
    """The cheapest useful line: ``<unix seconds> LEVEL logger message``.

    No timestamp formatting, no extras; the logger name, level name and
    message (and traceback, if any) are escaped to one line only when they
    hold a control character, so a newline in a logger name cannot forge a line.
    """

    def format(self, record: logging.LogRecord) -> str:
        """Return ``record`` as one minimal line."""
        message = record_message(record)
        if record.exc_info or record.exc_text:
            message = f"{message}\n{exception_text(record, self)}"
        return (
            f"{record.created:.6f} {escape_line(record.levelname)} {escape_line(record.name)} "
            f"{escape_line(message)}"
        )


def _block(header: str, lines: Iterable[str]) -> str:
    """Join a header line and body lines, each body line behind :data:`CONTINUATION`."""
    body = [CONTINUATION + escape_line(line) for line in lines]
    return "\n".join([header, *body]) if body else header


class MultilineFormatter(logging.Formatter):
    """Format each record as one block: a header line, then indented continuation lines.

    The header is ``<ISO ts> LEVEL logger [correlation_id]: <first message line>``;
    every further message line, and every traceback line, starts with
    :data:`CONTINUATION`. Every kind of line break Python knows
    (``str.splitlines``) starts a continuation line and control characters
    are escaped, so a message can never produce a line that reads as a new
    record: a reader splits blocks at lines not starting with :data:`CONTINUATION`.
    """

    def format(self, record: logging.LogRecord) -> str:
        """Return ``record`` as one block of lines."""
        lines = record_message(record).splitlines() or [""]
        exc = exception_text(record, self)
        if exc:
            lines.extend(exc.splitlines())
        if record.stack_info:
            lines.extend(record.stack_info.splitlines())
        correlation_id = _correlation(record)
        tag = f" [{escape_line(correlation_id)}]" if correlation_id is not None else ""
        header = (
            f"{iso_utc(record.created)} {record.levelname} {escape_line(record.name)}{tag}: "
            f"{escape_line(lines[0])}"
        )
        return _block(header, lines[1:])


class DebugFormatter(logging.Formatter):
    """Format each record as a detailed block for debugging.

    Header: ``<ISO ts> LEVEL logger path:line in func() pid=N(process) thread=name(ident)``
    plus ``correlation_id=...`` when set; then, behind :data:`CONTINUATION`,
    the message lines, one ``key=value`` line per extra / context field, and
    the traceback and stack lines.
    """

    def format(self, record: logging.LogRecord) -> str:
        """Return ``record`` as one debug block."""
        header = (
            f"{iso_utc(record.created)} {record.levelname} {escape_line(record.name)} "
            f"{escape_line(record.pathname)}:{record.lineno} in {escape_line(str(record.funcName))}() "
            f"pid={record.process}({escape_line(str(record.processName))}) "
            f"thread={escape_line(str(record.threadName))}({record.thread})"
        )
        correlation_id = _correlation(record)
        if correlation_id is not None:
            header += f" correlation_id={_logfmt_value(correlation_id)}"
        message, extras = message_and_extras(record)
        lines = message.splitlines() or [""]
        lines.extend(_logfmt_pairs(extras))
        exc = exception_text(record, self)
        if exc:
            lines.extend(exc.splitlines())
        if record.stack_info:
            lines.extend(record.stack_info.splitlines())
        return _block(header, lines)
