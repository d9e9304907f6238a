"""``stalwart logs``: summary, latest, list, tail (and tail -f in a real process)."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from stalwart.crash_logger._cli import logs

from .conftest import TIMEOUT, read_until

LIFE = "stalwart.crash_logger"
TODAY = dt.date.today()


def _line(clock: str, level: str, logger: str, message: str) -> str:
    return f"{TODAY:%Y-%m-%d} {clock}.000 | {level:<8} | MainProcess:10 | MainThread | {logger} | {message}\n"


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    folder = tmp_path / f"{TODAY:%Y-%m-%d}"
    folder.mkdir()
    (folder / "a_08-00-00.log").write_text(
        _line("08:00:00", "INFO", LIFE, "Crash-safe logging started: pid 10")
        + _line("08:00:04", "INFO", LIFE, "Clean shutdown: done")
    )
    (folder / "b_09-00-00.log").write_text("".join(_line("09:00:00", "INFO", "app", f"n={i}") for i in range(30)))
    return tmp_path


def test_summary_lists_each_run_with_its_outcome(log_dir: Path) -> None:
    result = CliRunner().invoke(logs, ["summary", "--log-dir", str(log_dir)])
    assert 0 == result.exit_code, result.output
    assert "2 run(s)" in result.output
    assert "completed" in result.output
    assert "unfinished" in result.output


def test_latest_prints_the_last_started_file(log_dir: Path) -> None:
    result = CliRunner().invoke(logs, ["latest", "--log-dir", str(log_dir)])
    assert f"{log_dir / f'{TODAY:%Y-%m-%d}' / 'b_09-00-00.log'}\n" == result.output


def test_latest_without_logs_fails_with_a_message(tmp_path: Path) -> None:
    result = CliRunner().invoke(logs, ["latest", "--log-dir", str(tmp_path / "none")])
    assert 1 == result.exit_code
    assert "no log files under" in result.output


def test_list_prints_files_oldest_first(log_dir: Path) -> None:
    result = CliRunner().invoke(logs, ["list", "--days", "1", "--log-dir", str(log_dir)])
    assert ["a_08-00-00.log", "b_09-00-00.log"] == [Path(p).name for p in result.output.splitlines()]


def test_tail_prints_the_last_lines_of_the_latest_file(log_dir: Path) -> None:
    result = CliRunner().invoke(logs, ["tail", "-n", "2", "--log-dir", str(log_dir)])
    assert ["n=28", "n=29"] == [line.rsplit(" | ", 1)[1] for line in result.output.splitlines()]


def test_tail_follow_prints_lines_appended_later(log_dir: Path) -> None:
    file = log_dir / f"{TODAY:%Y-%m-%d}" / "b_09-00-00.log"
    code = "from stalwart.crash_logger._cli import logs; logs()"
    process = subprocess.Popen(
        [sys.executable, "-c", code, "tail", "-f", "-n", "1", "--interval", "0.05", str(file)],
        stdout=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        fd = process.stdout.fileno()
        read_until(fd, b"n=29\n", "tail -f")
        with file.open("a") as stream:
            stream.write(_line("09:00:01", "INFO", "app", "appended later"))
        assert b"appended later" in read_until(fd, b"appended later\n", "tail -f")
    finally:
        process.kill()
        process.communicate(timeout=TIMEOUT)
