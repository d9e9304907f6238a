"""Reading the parts of a stdlib ``LogRecord`` every formatter and handler needs."""

from __future__ import annotations

import logging
import time
from typing import Any

from stalwart.core import Level, safe_repr
from stalwart.monitoring._errors import MonitoringConfigError

__all__ = [
    "STANDARD_ATTRIBUTES",
    "TEMPLATE_ATTRIBUTE",
    "escape_line",
    "exception_text",
    "iso_utc",
    "iso_utc_ns",
    "message_and_extras",
    "record_extras",
    "record_message",
    "record_template",
    "safe_str",
    "to_level",
]


def _standard_attributes() -> frozenset[str]:
    blank = logging.LogRecord("", logging.INFO, "", 0, "", (), None)
    # Those formatters and our own filters add, plus the correlation id, which has its own field.
    return frozenset(vars(blank)) | {"message", "asctime", "taskName", "correlation_id"}


#: Attribute names every ``LogRecord`` has; anything else came from ``extra=`` or a filter.
STANDARD_ATTRIBUTES = _standard_attributes()

#: Where :class:`~stalwart.monitoring.RedactionFilter` keeps the (redacted) message template.
TEMPLATE_ATTRIBUTE = "_stalwart_template"


# Records from one call site share their attribute names in the same order, so the
# list of names maps to the extra names once per shape. Listing a record's ~22 names
# is unavoidable (an extra may sit anywhere), but comparing that list with the last
# shape seen is cheaper than hashing it: a logging loop hits the same shape every time.
_EXTRA_KEYS: dict[tuple[str, ...], tuple[str, ...]] = {}
_EXTRA_KEYS_LIMIT = 4096
# (shape, extra names) of the last record, swapped whole so threads never see a torn pair.
_last_shape: tuple[list[str], tuple[str, ...]] = ([], ())


def _extra_keys(shape: list[str]) -> tuple[str, ...]:
    global _last_shape
    key = tuple(shape)
    keys = _EXTRA_KEYS.get(key)
    if keys is None:
        # extra={1: "x"} is accepted by logging: a key that is no str is the user's, never private.
        keys = tuple(
            name
            for name in shape
            if name not in STANDARD_ATTRIBUTES and not (isinstance(name, str) and name.startswith("_"))
        )
        if len(_EXTRA_KEYS) >= _EXTRA_KEYS_LIMIT:
            _EXTRA_KEYS.clear()
        _EXTRA_KEYS[key] = keys
    _last_shape = (shape, keys)
    return keys


def record_extras(record: logging.LogRecord) -> dict[str, Any]:
    """Return the user's ``extra=`` fields (and fields filters added), in insertion order.

    Names starting with ``_`` are private to filters and handlers and are left out.
    """
    attrs = record.__dict__
    shape = [*attrs]
    last, keys = _last_shape
    if shape != last:
        keys = _extra_keys(shape)
    extras = {}
    for key in keys:
        extras[key] = attrs[key]
    return extras


def record_message(record: logging.LogRecord) -> str:
    """Return ``record.getMessage()``, or a description of why formatting failed.

    ``log.info("%d items", "x")`` must still leave a trace, so the template,
    the arguments and the error are all kept.
    """
    try:
        return record.getMessage()
    except Exception as exc:  # noqa: BLE001 - any __str__/__format__ may raise anything
        return (
            f"{safe_repr(record.msg)} % {_args_repr(record.args)}"
            f" [message formatting failed: {type(exc).__name__}: {safe_str(exc)}]"
        )


def _args_repr(args: object) -> str:
    """Like ``repr(args)``, each argument through :func:`safe_repr` (one bad one hides none of the others)."""
    if type(args) is tuple:
        items = [safe_repr(item) for item in args]
        return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"
    if type(args) is dict:
        return "{" + ", ".join(f"{safe_repr(key)}: {safe_repr(value)}" for key, value in args.items()) + "}"
    return safe_repr(args)


def safe_str(value: object) -> str:
    """``str(value)``, or :func:`stalwart.core.safe_repr` if its ``__str__`` raises."""
    try:
        return str(value)
    except Exception:  # noqa: BLE001 - as safe_repr
        return safe_repr(value)


_LogRecord = logging.LogRecord
# The inlined getMessage below is only the stdlib's: a program that patches LogRecord.getMessage
# (a redaction or "{}"-style shim) or sets it on one record gets its own method called.
_STDLIB_GET_MESSAGE = logging.LogRecord.getMessage


def message_and_extras(record: logging.LogRecord) -> tuple[str, dict[str, Any]]:
    """Return :func:`record_message` and :func:`record_extras` of ``record``, the hot path of every record.

    For a plain ``LogRecord`` (the stdlib's ``getMessage``, not overridden on
    the record) the message is formatted here, from the record's ``__dict__``,
    which costs a third of the method call; subclasses, which may override
    ``getMessage``, get theirs called.
    """
    # record_extras(record), inlined: as a call it costs DatabaseHandler +4% instructions a row (callgrind).
    instance = record.__dict__
    shape = [*instance]
    last, names = _last_shape
    if shape != last:
        names = _extra_keys(shape)
    extras = {}
    for name in names:
        extras[name] = instance[name]
    if type(record) is _LogRecord and _LogRecord.getMessage is _STDLIB_GET_MESSAGE and "getMessage" not in instance:
        try:
            message = instance["msg"]
            if type(message) is not str:
                message = str(message)
            args = instance["args"]
            if args:
                message = message % args
        except Exception:  # noqa: BLE001 - record_message describes any failure
            return record_message(record), extras
        return message, extras
    return record_message(record), extras


def record_template(record: logging.LogRecord) -> str:
    """Return the message template (``msg`` before ``%`` formatting), e.g. for grouping."""
    template = record.__dict__.get(TEMPLATE_ATTRIBUTE)
    if template is not None:
        return str(template)
    msg = record.msg
    return msg if isinstance(msg, str) else str(msg)


_DEFAULT_FORMATTER = logging.Formatter()


def exception_text(record: logging.LogRecord, formatter: logging.Formatter | None = None) -> str | None:
    """Return the record's traceback text (cached on ``exc_text`` as stdlib does), or ``None``."""
    if record.exc_info and not record.exc_text:
        record.exc_text = (formatter or _DEFAULT_FORMATTER).formatException(record.exc_info)
    return record.exc_text or None


# (start in ns, text up to there) of the last second and of the last millisecond formatted: tuples
# swapped whole, so threads never see a torn pair. Records arrive in time order, so one formatted
# second serves thousands of records and, under load, one millisecond tens of them.
# The first start is so far below any real time that no record falls inside "its" second.
_second: tuple[int, str] = (-(2**200), "")
_milli: tuple[int, str] = (-(2**200), "")
# "000".."999" and "000Z".."999Z": a lookup is cheaper than a "03d" format spec.
_DIGITS = [f"{number:03d}" for number in range(1000)]
_DIGITS_Z = [f"{number:03d}Z" for number in range(1000)]


def _new_milli(ns: int) -> tuple[int, str]:
    global _second, _milli
    start, text = _second
    offset = ns - start
    if not 0 <= offset < 1_000_000_000:
        whole = ns // 1_000_000_000
        start, text = _second = (whole * 1_000_000_000, time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(whole)))
        offset = ns - start
    millis = offset // 1_000_000
    _milli = (start + millis * 1_000_000, text + _DIGITS[millis])
    return _milli


def iso_utc_ns(ns: int) -> str:
    """Return ``ns`` (Unix nanoseconds) as ISO 8601 UTC, truncated to microseconds: ``2026-01-02T03:04:05.123456Z``."""
    start, text = _milli
    offset = ns - start
    if not 0 <= offset < 1_000_000:
        start, text = _new_milli(ns)
        offset = ns - start
    return text + _DIGITS_Z[offset // 1000]


def iso_utc(created: float) -> str:
    """Return ``created`` (Unix seconds, as ``LogRecord.created``) like :func:`iso_utc_ns` does its nanoseconds.

    The nanoseconds are ``int(created * 1e9)``, the ``ts_ns`` of a :class:`stalwart.core.Record`,
    so both times of a record always agree.
    """
    return iso_utc_ns(int(created * 1_000_000_000))


# C0 and C1 controls (0x9b alone opens a terminal escape sequence) and DEL as \xNN.
_ESCAPES = {code: f"\\x{code:02x}" for code in [*range(0x20), *range(0x7F, 0xA0)]}
_ESCAPES.update({ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t"})
# Line and paragraph separators (str.splitlines() breaks on them) and the bidirectional overrides and
# isolates, which reorder what a terminal shows ("Trojan Source").
_ESCAPES.update({code: f"\\u{code:04x}" for code in [0x2028, 0x2029, *range(0x202A, 0x202F), *range(0x2066, 0x206A)]})
# Lone surrogates (os.listdir() on a non-UTF-8 file name) cannot be written as UTF-8: the record would be lost.
_ESCAPES.update({code: f"\\u{code:04x}" for code in range(0xD800, 0xE000)})


def escape_line(text: str) -> str:
    r"""Return ``text`` as one line: backslashes doubled, line breaks and control characters escaped.

    ``\`` becomes ``\\``; ``\n``, ``\r`` and ``\t`` are written so; other C0 and
    C1 controls and DEL as ``\xNN``; line and paragraph separators, bidirectional
    overrides and lone surrogates as ``\uNNNN``. What stays is one line that
    reads back exactly (every backslash in it starts an escape), so user data
    can never start a line of its own (forging a record) or drive a terminal
    with escape sequences.
    """
    if "\\" in text:
        return text.replace("\\", "\\\\").translate(_ESCAPES)
    if text.isprintable():
        return text
    return text.translate(_ESCAPES)


def to_level(value: int | str, *, key: str = "level") -> int:
    """Return the numeric level for a number or a level name (``"warning"``, ``"TRACE"``, ``"30"``).

    Args:
        value: A level number or name, any case.
        key: What the value configures, for the error message.

    Returns:
        The level number.

    Raises:
        MonitoringConfigError: If ``value`` names no known level.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return int(text)
        # getLevelName maps a registered name back to its number (also on 3.10).
        number = logging.getLevelName(text.upper())
        if isinstance(number, int):
            return number
        if text.upper() in Level.__members__:
            return int(Level[text.upper()])
        raise MonitoringConfigError(key, value, Level.__members__)
    raise MonitoringConfigError(key, value, ["an int", "a level name"])
