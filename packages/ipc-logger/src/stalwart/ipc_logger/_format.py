"""``RecordFormatter``: render a core Record with a stdlib ``%``-style format, fast."""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable, Sequence
from typing import Any

from stalwart.core import Record, level_name
from stalwart.ipc_logger._errors import ConfigError

__all__ = ["RecordFormatter"]

_KEY = re.compile(r"%\((\w+)\)")

# What each stdlib LogRecord attribute is, as an expression over a Record ``r``.
_EXPRESSIONS: dict[str, str] = {
    "name": "r.logger",
    "levelno": "r.level",
    "message": "r.message",
    "created": "r.ts_ns / 1e9",
    "msecs": "float((r.ts_ns % 1_000_000_000) // 1_000_000)",
    "process": "r.pid",
    "processName": "r.process",
    "thread": "r.thread",
    "threadName": "r.thread_name",
    "module": "(r.module or '')",
    "funcName": "r.func",
    "lineno": "(r.line or 0)",
    "pathname": "(r.path or '')",
    "filename": "_basename(r.path or '')",
    "host": "r.host",
    "seq": "r.seq",
    "correlation_id": "r.correlation_id",
    "asctime": "_asctime(r.ts_ns)",
    "levelname": "_levelname(r.level)",
}


class RecordFormatter:
    """Format core records with a stdlib ``%``-style format string.

    Formats using only the common attributes (``asctime``, ``levelname``,
    ``name``, ``message``, ``process``, ``thread``, ``lineno``, ... plus
    ``host`` and ``seq``) take a compiled fast path about fifteen times cheaper than
    building a ``LogRecord``; any other attribute (e.g. a user ``extra``
    field) falls back to :meth:`Record.to_logging` + :class:`logging.Formatter`.
    ``asctime`` renders like the stdlib default (local time,
    ``2024-01-02 03:04:05,678``); tracebacks and stack text follow the
    message on their own lines.

    Args:
        fmt: The format, e.g. ``"%(asctime)s [%(levelname)s] %(name)s - %(message)s"``.

    Raises:
        ConfigError: If ``fmt`` is not a valid ``%``-style logging format.

    """

    def __init__(self, fmt: str) -> None:
        try:
            logging.PercentStyle(fmt).validate()
        except ValueError as exc:
            raise ConfigError("str_format", fmt, str(exc)) from exc
        self._fmt = fmt
        self._fallback = logging.Formatter(fmt)
        self._level_names: dict[int, str] = {}
        self._second = -1
        self._second_text = ""
        self._millis = -1
        self._millis_text = ""
        compiled = self._compile(fmt)
        self._render = compiled[0] if compiled else None
        self._render_batch = compiled[1] if compiled else None

    def _compile(self, fmt: str) -> tuple[Callable[[Record], str], Callable[[Sequence[Record]], str]] | None:
        """Build ``positional_fmt % (expr, ...)`` renderers (one record, and a whole batch).

        Only expressions from :data:`_EXPRESSIONS` are compiled (the user's text
        is passed as a value, never as code), so this is safe for any ``fmt``.
        A ``%(name)`` followed by a conversion spec keeps its spec.
        """
        keys = _KEY.findall(fmt)
        if "%%" in fmt or not set(keys) <= _EXPRESSIONS.keys():
            return None
        values = ", ".join(_EXPRESSIONS[key] for key in keys)
        line = f"fmt % ({values}{',' if keys else ''})"
        source = (
            f"def render(r):\n    return {line}\n"
            # One comprehension per batch: no per-record call of format().
            f"def render_batch(rs):\n"
            f"    return ''.join([{line} + '\\n' if r.exc is None and r.stack is None"
            f" else _full(r) + '\\n' for r in rs])\n"
        )
        namespace: dict[str, Any] = {
            "_full": self.format,
            "fmt": _KEY.sub("%", fmt),
            "_basename": os.path.basename,
            "_asctime": self._time_text,
            "_levelname": self._level_name,
        }
        exec(compile(source, "<RecordFormatter>", "exec"), namespace)
        return namespace["render"], namespace["render_batch"]

    def _level_name(self, level: int) -> str:
        name = self._level_names.get(level)
        if name is None:
            name = self._level_names[level] = level_name(level)
        return name

    @property
    def fmt(self) -> str:
        """The format string."""
        return self._fmt

    def _time_text(self, ts_ns: int) -> str:
        millis = ts_ns // 1_000_000
        if millis == self._millis:
            return self._millis_text  # records of one batch mostly share their millisecond
        second, rest = divmod(millis, 1000)
        if second != self._second:
            self._second = second
            self._second_text = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
        self._millis = millis
        self._millis_text = text = f"{self._second_text},{rest:03d}"
        return text

    def format(self, record: Record) -> str:
        """Return ``record`` rendered as one text entry (no trailing newline)."""
        render = self._render
        if render is None:
            return self._fallback.format(record.to_logging())
        text = render(record)
        if record.exc:
            text = f"{text}\n{record.exc}"
        if record.stack:
            text = f"{text}\n{record.stack}"
        return text

    def format_batch(self, records: Sequence[Record]) -> str:
        """Return every record rendered, each followed by a newline (the fast path for handlers)."""
        render_batch = self._render_batch
        if render_batch is None:
            return "".join([f"{self.format(record)}\n" for record in records])
        return render_batch(records)
