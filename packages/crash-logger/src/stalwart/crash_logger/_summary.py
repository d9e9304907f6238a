"""Reading a logs tree back: list the files, find the latest, summarise each run's outcome."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from stalwart.crash_logger._errors import CrashLoggerError
from stalwart.crash_logger._events import (
    CLEAN_SHUTDOWN,
    ENDED_WITHOUT_SHUTDOWN,
    EXCEPTION,
    LIFECYCLE_LOGGER,
    NATIVE_CRASH,
    SIGNAL_RECEIVED,
    STARTED,
    UNCAUGHT,
)
from stalwart.crash_logger._format import parse_head
from stalwart.crash_logger._paths import LOG_NAME

__all__ = [
    "COMPLETED",
    "CRASHED",
    "EXCEPTION_OUTCOME",
    "SIGNAL",
    "UNFINISHED",
    "RunSummary",
    "get_latest_log_file",
    "list_log_files",
    "print_log_summary",
    "summarize_log_file",
    "summarize_logs",
]

COMPLETED = "completed"
EXCEPTION_OUTCOME = "exception"
SIGNAL = "signal"
CRASHED = "crashed-without-shutdown"
#: No end line yet: the run is still going, or its writer was killed too.
UNFINISHED = "unfinished"

_STARTED_PID = re.compile(r"\bpid (\d+)")
_WRITER_PID = re.compile(r"\bwriter pid (\d+)")
_FATAL = re.compile(r"^Fatal Python error: (.+)$")
_ERROR_LEVEL = 40


@dataclasses.dataclass(frozen=True)
class RunSummary:
    """What one log file says about its run.

    Attributes:
        path: The log file.
        start: Time of the first record, if any.
        end: Time of the last record, if any.
        outcome: ``completed``, ``exception``, ``signal``, ``crashed-without-shutdown``
            or ``unfinished``.
        detail: The signal name, exception or native crash reason, if any.
        errors: Records at ERROR or above.
        records: Records in the file.
        pid: Process id of the logged process, if recorded.
    """

    path: Path
    start: dt.datetime | None
    end: dt.datetime | None
    outcome: str
    detail: str
    errors: int
    records: int
    pid: int | None

    @property
    def duration(self) -> float | None:
        """Seconds from the first to the last record, if the file has records."""
        if self.start is None or self.end is None:
            return None
        return (self.end - self.start).total_seconds()


def summarize_log_file(path: str | os.PathLike[str]) -> RunSummary:
    """Summarise one crash-safe log file.

    Only lifecycle lines (signals, exceptions, shutdown) written by the process
    named in the "started" line decide the outcome; those of forked children
    that logged into the same file still count as records and errors.

    Args:
        path: The file.

    Returns:
        Its run's summary.

    Raises:
        CrashLoggerError: If the file cannot be read.
    """
    file = Path(path)
    try:
        with file.open(encoding="utf-8", errors="replace") as stream:
            return _summarize_lines(file, stream)
    except OSError as exc:
        raise CrashLoggerError(f"cannot read log file {str(file)!r}: {exc.strerror or exc}") from exc


def _summarize_lines(file: Path, lines: Iterable[str]) -> RunSummary:
    start = end = None
    records = errors = 0
    pid: int | None = None
    # The logged process and its writer (which reports a crash) speak for the run.
    owners: set[int | None] = {None}
    signal_name = exception = native = ""
    clean = crashed = in_native = False
    for line in lines:
        head = parse_head(line)
        if head is None:
            fatal = _FATAL.match(line) if in_native else None
            if fatal and not native:
                native = fatal.group(1).strip()
            continue
        records += 1
        start = start or head.time
        end = head.time
        errors += head.level >= _ERROR_LEVEL
        in_native = False
        if head.logger != LIFECYCLE_LOGGER:
            continue
        if pid is not None and _line_pid(head.process) not in owners:
            # A forked child writes into the same file; its signals, exceptions and exit
            # are not the outcome of the run the file is about.
            continue
        message = head.message
        if message.startswith(STARTED) and pid is None:
            found = _STARTED_PID.search(message)
            pid = int(found.group(1)) if found else None
            writer = _WRITER_PID.search(message)
            owners.update(int(match.group(1)) for match in (found, writer) if match)
        elif message.startswith(SIGNAL_RECEIVED) and not signal_name:
            signal_name = message[len(SIGNAL_RECEIVED) :].split()[0]
        elif (message.startswith((EXCEPTION, UNCAUGHT))) and not exception:
            exception = message
        elif message.startswith(NATIVE_CRASH):
            in_native = True
        elif ENDED_WITHOUT_SHUTDOWN in message:
            crashed = True
        elif message.startswith(CLEAN_SHUTDOWN):
            clean = True
    if signal_name:
        outcome, detail = SIGNAL, signal_name
    elif exception:
        outcome, detail = EXCEPTION_OUTCOME, exception
    elif crashed:
        outcome, detail = CRASHED, native
    elif clean:
        outcome, detail = COMPLETED, ""
    else:
        outcome, detail = UNFINISHED, native
    return RunSummary(file, start, end, outcome, detail, errors, records, pid)


def _line_pid(process: str) -> int | None:
    """Return the pid of a head line's ``process:pid`` field, or ``None`` if it has none."""
    _, _, text = process.rpartition(":")
    return int(text) if text.isdigit() else None


def _day(name: str) -> dt.date | None:
    try:
        return dt.datetime.strptime(name, "%Y-%m-%d").date()
    except ValueError:
        return None


def _sort_key(day: dt.date, file: Path) -> tuple[dt.date, str, int, str]:
    match = LOG_NAME.match(file.name)
    if match:
        return day, match.group("time"), int(match.group("n") or 0), file.name
    return day, time.strftime("%H-%M-%S", time.localtime(file.stat().st_mtime)), 0, file.name


def list_log_files(days_back: int | None = 7, log_dir: str | os.PathLike[str] = "logs") -> list[Path]:
    """Return the log files of the last ``days_back`` days, oldest first.

    Args:
        days_back: Keep date folders from this many days before today onwards; ``None`` keeps all.
        log_dir: Root of the logs tree (``log_dir/YYYY-MM-DD/*.log``).

    Returns:
        The files in start order; empty if ``log_dir`` does not exist or has none.

    Raises:
        CrashLoggerError: If ``log_dir`` exists but cannot be listed.
    """
    root = Path(log_dir)
    if not root.exists():
        return []
    cutoff = None if days_back is None else dt.date.today() - dt.timedelta(days=days_back)
    found: list[tuple[tuple[dt.date, str, int, str], Path]] = []
    try:
        for folder in root.iterdir():
            day = _day(folder.name)
            if day is None or not folder.is_dir() or (cutoff is not None and day < cutoff):
                continue
            for file in folder.glob("*.log"):
                if file.is_file():
                    found.append((_sort_key(day, file), file))
    except OSError as exc:
        raise CrashLoggerError(f"cannot list log directory {str(root)!r}: {exc.strerror or exc}") from exc
    return [file for _, file in sorted(found)]


def get_latest_log_file(log_dir: str | os.PathLike[str] = "logs") -> Path | None:
    """Return the most recently started run's log file, or ``None`` if there is none.

    Raises:
        CrashLoggerError: If ``log_dir`` exists but cannot be listed.
    """
    files = list_log_files(days_back=None, log_dir=log_dir)
    return files[-1] if files else None


def summarize_logs(log_dir: str | os.PathLike[str] = "logs", days_back: int | None = 7) -> list[RunSummary]:
    """Summarise every run of the last ``days_back`` days, oldest first; see :func:`summarize_log_file`."""
    return [summarize_log_file(file) for file in list_log_files(days_back, log_dir)]


def _format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def format_summary_table(runs: list[RunSummary], log_dir: str | os.PathLike[str], days_back: int | None) -> str:
    """Return the text :func:`print_log_summary` prints."""
    span = "all days" if days_back is None else f"last {days_back} days"
    lines = [f"Crash-safe logs under {os.fspath(log_dir)} ({span}): {len(runs)} run(s)"]
    if runs:
        lines.append(f"{'START':<19}  {'DURATION':>9}  {'OUTCOME':<45}  {'ERRORS':>6}  FILE")
    for run in runs:
        start = run.start.strftime("%Y-%m-%d %H:%M:%S") if run.start else "-"
        outcome = run.outcome if not run.detail or run.outcome == EXCEPTION_OUTCOME else f"{run.outcome} ({run.detail})"
        lines.append(
            f"{start:<19}  {_format_duration(run.duration):>9}  {outcome:<45}  {run.errors:>6}  {run.path}"
        )
    return "\n".join(lines) + "\n"


def print_log_summary(
    log_dir: str | os.PathLike[str] = "logs", days_back: int | None = 7, file: TextIO | None = None
) -> None:
    """Print one line per run of the last ``days_back`` days: start, duration, outcome, errors, file.

    Args:
        log_dir: Root of the logs tree.
        days_back: How many days back to look; ``None`` for all.
        file: Where to print; standard output by default.

    Raises:
        CrashLoggerError: If the tree or a file in it cannot be read.
    """
    out = sys.stdout if file is None else file
    out.write(format_summary_table(summarize_logs(log_dir, days_back), log_dir, days_back))
