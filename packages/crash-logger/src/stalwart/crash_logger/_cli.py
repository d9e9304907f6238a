"""The ``stalwart logs`` command group: summary, latest, list, tail."""

from __future__ import annotations

import codecs
import collections
import os
import time
from pathlib import Path
from typing import BinaryIO

import click
from stalwart.crash_logger._errors import CrashLoggerError
from stalwart.crash_logger._summary import (
    format_summary_table,
    get_latest_log_file,
    list_log_files,
    summarize_logs,
)

__all__ = ["logs"]

_LOG_DIR = click.option(
    "--log-dir",
    default="logs",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Root of the logs tree (LOG_DIR/YYYY-MM-DD/*.log).",
)
_DAYS = click.option(
    "--days", default=7, show_default=True, type=click.IntRange(min=0), help="How many days back to look."
)


@click.group("logs")
def logs() -> None:
    """Browse crash-safe log files: summary, latest, list, tail."""


@logs.command("summary")
@_LOG_DIR
@_DAYS
def summary(log_dir: Path, days: int) -> None:
    """One line per run: start, duration, outcome, error count, file."""
    try:
        runs = summarize_logs(log_dir, days)
    except CrashLoggerError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(format_summary_table(runs, log_dir, days), nl=False)


@logs.command("latest")
@_LOG_DIR
def latest(log_dir: Path) -> None:
    """Print the path of the most recently started run's log file."""
    click.echo(_latest_or_fail(log_dir))


@logs.command("list")
@_LOG_DIR
@_DAYS
def list_(log_dir: Path, days: int) -> None:
    """Print the log files of the last --days days, oldest first."""
    try:
        files = list_log_files(days, log_dir)
    except CrashLoggerError as exc:
        raise click.ClickException(str(exc)) from exc
    for file in files:
        click.echo(file)


@logs.command("tail")
@click.argument("file", required=False, type=click.Path(dir_okay=False, exists=True, path_type=Path))
@_LOG_DIR
@click.option("-n", "--lines", default=20, show_default=True, type=click.IntRange(min=0), help="Lines to show.")
@click.option("-f", "--follow", is_flag=True, help="Keep printing lines as they are written (Ctrl+C stops).")
@click.option("--interval", default=0.2, show_default=True, type=click.FloatRange(min=0.01), hidden=True)
def tail(file: Path | None, log_dir: Path, lines: int, follow: bool, interval: float) -> None:
    """Print the last lines of FILE (default: the latest log file), optionally following it."""
    path = file if file is not None else _latest_or_fail(log_dir)
    try:
        with path.open("rb") as stream:
            for line in collections.deque(stream, maxlen=lines) if lines else ():
                click.echo(line.decode("utf-8", "replace"), nl=False)
            if follow:
                _follow(stream, interval)
    except OSError as exc:
        raise click.ClickException(f"cannot read {path}: {exc.strerror or exc}") from exc
    except KeyboardInterrupt:
        return


def _follow(stream: BinaryIO, interval: float) -> None:
    # A character may be split across two reads; the incremental decoder keeps the first half.
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    while True:
        chunk = stream.read(65536)
        if chunk:
            click.echo(decoder.decode(chunk), nl=False)
            continue
        if os.fstat(stream.fileno()).st_size < stream.tell():
            stream.seek(0)  # truncated: start over, as tail -F does
        time.sleep(interval)


def _latest_or_fail(log_dir: Path) -> Path:
    try:
        found = get_latest_log_file(log_dir)
    except CrashLoggerError as exc:
        raise click.ClickException(str(exc)) from exc
    if found is None:
        raise click.ClickException(f"no log files under {log_dir}")
    return found
