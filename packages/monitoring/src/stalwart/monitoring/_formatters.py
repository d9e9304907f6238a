"""Text formatters: structured key=value, dashboard columns, debug blocks, minimal, multi-line.

Every formatter here keeps one record recognisable as one record, and every
field recognisable as its field, so the output parses back: single-line formats
escape line breaks, control characters and backslashes (:func:`escape_line`),
block formats put every continuation line behind :data:`CONTINUATION` and mark
what each one holds, so user data can never forge a record or a field.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any

import msgspec
from stalwart.core import safe_repr
from stalwart.monitoring._fields import (
    escape_line,
    exception_text,
    iso_utc,
    message_and_extras,
    record_message,
    safe_str,
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
# After CONTINUATION, a block's line is a message line, or one of these marks and then the line. A message
# line that starts with a mark character gets a backslash before it (escape_line doubled every other one),
# so a message can never pass for a field, a traceback or a stack line.
_EXTRA_MARK = "+ "
_TRACEBACK_MARK = "! "
_STACK_MARK = "^ "
_MARK_CHARACTERS = ("+", "!", "^")

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
        base = _logfmt_key(safe_str(key))
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
    try:
        if isinstance(value, str):
            text = value
        elif value is None or isinstance(value, (bool, int, float)):
            # str() of an int past 4300 digits raises ValueError (sys.set_int_max_str_digits).
            text = "null" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
        else:
            text = _ENCODER.encode(value).decode()
    except Exception:  # noqa: BLE001 - any __str__/__repr__ may raise anything: keep the field
        text = safe_repr(value)
    if text and _BARE_VALUE.fullmatch(text) and text.isprintable():
        return text
    return '"' + escape_line(text).replace('"', '\\"') + '"'


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


def _text(value: object) -> str:
    """Return a record field as one escaped line; ``None`` (a bare ``makeLogRecord`` has no name) as ``""``."""
    return escape_line("" if value is None else str(value))


def _token(value: object) -> str:
    r"""Return a field of a space-separated header: :func:`_text` with spaces written ``\x20``."""
    return _text(value).replace(" ", "\\x20")


def _column(value: object) -> str:
    r"""Return ``value`` escaped to one line with ``|`` as ``\|``, so it can never open a column of its own."""
    return _text(value).replace("|", "\\|")


def _with_traceback(message: str, record: logging.LogRecord, formatter: logging.Formatter) -> str:
    """Return ``message`` followed by the record's traceback and stack, each on lines of its own."""
    exc = exception_text(record, formatter)
    if exc:
        message = f"{message}\n{exc}"
    if record.stack_info:
        message = f"{message}\n{record.stack_info}"
    return message


class DashboardFormatter(logging.Formatter):
    r"""Format records as fixed columns for a live view: ``time | LEVEL | logger | correlation | message``.

    The time is ``HH:MM:SS.ffffff`` UTC, the level is padded to 8 characters,
    the correlation column is ``-`` when unset (``\-`` for an id that is ``-``; a ``|`` in the logger name or
    correlation id, which may come from a request header, is written ``\|``),
    and the message (with the traceback and stack appended) is escaped to one
    line and comes last, so a ``|`` inside it never shifts a column. Escapes
    are those of :func:`~stalwart.monitoring._fields.escape_line` (``\\`` for a
    backslash), so every column reads back exactly.
    """

    def format(self, record: logging.LogRecord) -> str:
        """Return ``record`` as one dashboard line."""
        message = _with_traceback(record_message(record), record, self)
        # Spaces in the level name escaped: the padding after it must not look like part of it.
        level = _column(record.levelname).replace(" ", "\\x20")
        correlation_id = _correlation(record)
        # "-" when unset; an id that is "-" itself is written "\-".
        correlation = "-" if correlation_id is None else "\\-" if correlation_id == "-" else _column(correlation_id)
        return (
            f"{iso_utc(record.created)[11:26]} | {level:<8} | {_column(record.name)} | "
            f"{correlation} | {escape_line(message)}"
        )


class PerformanceFormatter(logging.Formatter):
    r"""The cheapest useful line: ``<unix seconds> LEVEL logger message``.

    No timestamp formatting, no extras. The logger name, level name and
    message (and traceback, if any) are escaped to one line as
    :func:`~stalwart.monitoring._fields.escape_line` does (so a newline in a
    logger name cannot forge a line), and a space in the level or logger name
    is written ``\x20``, so the line splits back into its four fields.
    """

    def format(self, record: logging.LogRecord) -> str:
        """Return ``record`` as one minimal line."""
        message = record_message(record)
        if record.exc_info or record.exc_text:
            message = f"{message}\n{exception_text(record, self)}"
        return f"{record.created:.6f} {_token(record.levelname)} {_token(record.name)} {escape_line(message)}"


def _message_line(line: str) -> str:
    """Return one message line escaped for a block, a leading mark character escaped too."""
    text = escape_line(line)
    return "\\" + text if text.startswith(_MARK_CHARACTERS) else text


def _block(
    header: str, message_lines: Iterable[str], extras: Iterable[str], exc: str | None, stack: str | None
) -> str:
    """Join a header line and the body lines, each behind :data:`CONTINUATION` and its mark."""
    body = [CONTINUATION + _message_line(line) for line in message_lines]
    body.extend(CONTINUATION + _EXTRA_MARK + pair for pair in extras)
    for mark, text in ((_TRACEBACK_MARK, exc), (_STACK_MARK, stack)):
        if text:
            body.extend(CONTINUATION + mark + escape_line(line) for line in text.split("\n"))
    return "\n".join([header, *body]) if body else header


class MultilineFormatter(logging.Formatter):
    r"""Format each record as one block: a header line, then indented continuation lines.

    The header is ``<ISO ts> LEVEL logger [correlation_id]: <first message line>``;
    every further line starts with :data:`CONTINUATION`: the message's other
    lines as they are, then the traceback lines behind ``! `` and the stack
    lines behind ``^ ``. Each ``\n`` starts a continuation line (a trailing
    one an empty line, so the text reads back exactly); every other line
    break (``\r``, ``\x85``, ``\u2028`` ...), control characters and
    backslashes are escaped as :func:`~stalwart.monitoring._fields.escape_line`
    does, a space in the level or logger name as ``\x20``, a ``:`` in the logger
    name as ``\:``, a ``]`` in the correlation id as ``\]`` and a message line starting
    with ``+``, ``!`` or ``^`` gets a ``\`` before it. So a message can never
    produce a line that reads as a new record (a reader splits blocks at lines
    not starting with :data:`CONTINUATION`), a traceback or a correlation id.
    """

    def format(self, record: logging.LogRecord) -> str:
        """Return ``record`` as one block of lines."""
        lines = record_message(record).split("\n")
        exc = exception_text(record, self)
        correlation_id = _correlation(record)
        tag = "" if correlation_id is None else " [" + escape_line(correlation_id).replace("]", "\\]") + "]"
        logger = _token(record.name).replace(":", "\\:")
        header = f"{iso_utc(record.created)} {_token(record.levelname)} {logger}{tag}: {escape_line(lines[0])}"
        return _block(header, lines[1:], (), exc, record.stack_info)


class DebugFormatter(logging.Formatter):
    """Format each record as a detailed block for debugging.

    Header: ``<ISO ts> LEVEL logger path:line in func() pid=N(process) thread=name(ident)``
    plus ``correlation_id=...`` when set; then, behind :data:`CONTINUATION`,
    the message lines, one ``+ key=value`` line per extra / context field
    (logfmt values), the traceback lines behind ``! `` and the stack lines
    behind ``^ ``. Escapes are :class:`MultilineFormatter`'s, so a message line
    can never pass for a field or a traceback line.
    """

    def format(self, record: logging.LogRecord) -> str:
        """Return ``record`` as one debug block."""
        header = (
            f"{iso_utc(record.created)} {_token(record.levelname)} {_token(record.name)} "
            f"{_token(record.pathname)}:{_token(record.lineno)} in {_token(record.funcName)}() "
            f"pid={_token(record.process)}({_token(record.processName)}) "
            f"thread={_token(record.threadName)}({_token(record.thread)})"
        )
        correlation_id = _correlation(record)
        if correlation_id is not None:
            header += f" correlation_id={_logfmt_value(correlation_id)}"
        message, extras = message_and_extras(record)
        exc = exception_text(record, self)
        return _block(header, message.split("\n"), _logfmt_pairs(extras), exc, record.stack_info)
