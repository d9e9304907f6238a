"""The text line format of a crash-safe log file: writing a record, and reading a line back.

One record is one head line, then any continuation lines (multi-line
messages, tracebacks)::

    2026-11-23 09:30:01.123 | INFO     | MainProcess:1234 | MainThread | app | message
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import time
from typing import NamedTuple

from stalwart.core import Level, Record, level_name

__all__ = ["FIELD_SEPARATOR", "LineHead", "format_record", "format_timestamp", "parse_head"]

FIELD_SEPARATOR = " | "
_STAMP_FORMAT = "%Y-%m-%d %H:%M:%S"
_STAMP_LENGTH = len("2026-01-01 00:00:00.000")


@functools.lru_cache(maxsize=8)
def _second_stamp(seconds: int) -> str:
    # Records arrive in bursts within one second; strftime once per second, not per record.
    return time.strftime(_STAMP_FORMAT, time.localtime(seconds))


def format_timestamp(ts_ns: int) -> str:
    """Return ``YYYY-MM-DD HH:MM:SS.mmm`` in local time for a Unix-epoch nanosecond time."""
    seconds, nanos = divmod(ts_ns, 1_000_000_000)
    return f"{_second_stamp(seconds)}.{nanos // 1_000_000:03d}"


def format_record(record: Record) -> str:
    """Return the text of ``record`` as it appears in the log file, ending in a newline."""
    text = FIELD_SEPARATOR.join(
        (
            format_timestamp(record.ts_ns),
            f"{level_name(record.level):<8}",
            f"{record.process}:{record.pid}",
            record.thread_name or str(record.thread),
            record.logger,
            record.message,
        )
    )
    if record.exc:
        text = f"{text}\n{record.exc.rstrip()}"
    if record.stack:
        text = f"{text}\n{record.stack.rstrip()}"
    return text + "\n"


class LineHead(NamedTuple):
    """The fields of a record's head line."""

    time: dt.datetime
    level: int
    level_name: str
    process: str
    thread: str
    logger: str
    message: str


def parse_head(line: str) -> LineHead | None:
    """Parse a record's head line; return ``None`` for a continuation line.

    Args:
        line: One line of a log file, with or without its newline.

    Returns:
        The parsed fields, or ``None`` if ``line`` does not start a record.
    """
    if len(line) < _STAMP_LENGTH or line[4] != "-" or line[19] != ".":
        return None
    parts = line.rstrip("\n").split(FIELD_SEPARATOR, 5)
    if len(parts) != 6:
        return None
    stamp, level_text, process, thread, logger, message = parts
    try:
        when = dt.datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%f")
    except ValueError:
        return None
    name = level_text.strip()
    return LineHead(when, _level_number(name), name, process, thread, logger, message)


def _level_number(name: str) -> int:
    number = logging.getLevelName(name)
    if isinstance(number, int):
        return number
    if name in Level.__members__:
        return int(Level[name])
    return int(name[6:]) if name.startswith("Level ") and name[6:].isdigit() else 0
