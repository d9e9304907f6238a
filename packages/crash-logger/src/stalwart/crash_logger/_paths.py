"""Where a run's log file goes: ``<log_dir>/YYYY-MM-DD/<prefix>_HH-MM-SS[_N].log``."""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path

from stalwart.crash_logger._errors import CrashLoggerError, LogDirError

__all__ = ["LOG_NAME", "create_log_file", "validate_prefix"]

#: A log file name: prefix, time of day, and a counter when several runs start in one second.
LOG_NAME = re.compile(r"^(?P<prefix>.+)_(?P<time>\d{2}-\d{2}-\d{2})(?:_(?P<n>\d+))?\.log$")

# Runs starting in the same second get _1, _2, ...; past this something is badly wrong.
_MAX_SAME_SECOND = 10_000


def validate_prefix(prefix: str) -> str:
    """Return ``prefix`` if it can be part of a file name.

    Raises:
        CrashLoggerError: If it is empty or contains a path separator or NUL.
    """
    if not prefix or "/" in prefix or "\\" in prefix or "\0" in prefix or prefix in {".", ".."}:
        raise CrashLoggerError(
            f"log_file_prefix {prefix!r} is not usable in a file name "
            "(empty, '.', '..', or contains '/', '\\\\' or NUL)"
        )
    return prefix


def create_log_file(log_dir: str | os.PathLike[str], prefix: str, now: dt.datetime) -> tuple[Path, int]:
    """Create a new, empty log file for a run that starts at ``now`` and open it for appending.

    The file is created with ``O_EXCL``, so two runs starting in the same second
    (in one process or several) get distinct names and never overwrite each other.

    Args:
        log_dir: The logs root; the date subdirectory is created inside it.
        prefix: The file name prefix.
        now: The run's start time (local).

    Returns:
        The file's path and a write-only, append-mode, non-inheritable descriptor.

    Raises:
        LogDirError: If the directory or file cannot be created.
        CrashLoggerError: If ``prefix`` is not usable in a file name.
    """
    validate_prefix(prefix)
    # Absolute, so a later chdir cannot send the direct-write fallback elsewhere.
    day_dir = Path(os.path.abspath(log_dir)) / now.strftime("%Y-%m-%d")
    try:
        day_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LogDirError(str(day_dir), f"{type(exc).__name__}: {exc.strerror or exc}") from exc
    stem = f"{prefix}_{now.strftime('%H-%M-%S')}"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | getattr(os, "O_CLOEXEC", 0)
    for attempt in range(_MAX_SAME_SECOND):
        path = day_dir / (f"{stem}.log" if attempt == 0 else f"{stem}_{attempt}.log")
        try:
            return path, os.open(path, flags, 0o644)
        except FileExistsError:
            continue
        except OSError as exc:
            raise LogDirError(str(path), f"{type(exc).__name__}: {exc.strerror or exc}") from exc
    raise LogDirError(str(day_dir), f"{_MAX_SAME_SECOND} runs named {stem}*.log already exist")
