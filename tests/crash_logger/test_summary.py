"""Log utilities on a synthetic logs tree: listing, latest file, per-run summary."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pytest
from stalwart.crash_logger import (
    CrashLoggerError,
    get_latest_log_file,
    list_log_files,
    print_log_summary,
    summarize_log_file,
)

LIFE = "stalwart.crash_logger"


def _line(clock: str, level: str, logger: str, message: str, day: dt.date) -> str:
    return f"{day:%Y-%m-%d} {clock}.000 | {level:<8} | MainProcess:10 | MainThread | {logger} | {message}\n"


def _write(root: Path, day: dt.date, name: str, lines: list[tuple[str, str, str, str]]) -> Path:
    folder = root / f"{day:%Y-%m-%d}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("".join(_line(*fields, day=day) for fields in lines))
    return path


TODAY = dt.date.today()
STARTED = ("09:00:00", "INFO", LIFE, "Crash-safe logging started: pid 10, log file x, writer pid 11")


@pytest.fixture
def tree(tmp_path: Path) -> dict[str, Path]:
    old = TODAY - dt.timedelta(days=30)
    yesterday = TODAY - dt.timedelta(days=1)
    files = {
        "old": _write(tmp_path, old, "job_08-00-00.log", [STARTED]),
        "completed": _write(
            tmp_path,
            yesterday,
            "job_09-00-00.log",
            [STARTED, ("09:00:01", "ERROR", "app", "bad thing"), ("09:00:05", "INFO", LIFE, "Clean shutdown: done")],
        ),
        "signal": _write(
            tmp_path,
            TODAY,
            "job_10-00-00.log",
            [
                STARTED,
                ("10:00:02", "CRITICAL", LIFE, "Received signal SIGTERM (termination requested); terminating"),
                ("10:00:02", "CRITICAL", LIFE, "process 10 ended without shutdown (killed)"),
            ],
        ),
        "exception": _write(
            tmp_path,
            TODAY,
            "job_10-00-00_1.log",
            [STARTED, ("10:00:03", "CRITICAL", LIFE, "Exception in main after 3 s: ValueError: x"),
             ("10:00:03", "INFO", LIFE, "Clean shutdown: main finished")],
        ),
        "crashed": _write(
            tmp_path,
            TODAY,
            "other_11-30-00.log",
            [STARTED, ("11:30:09", "CRITICAL", LIFE, "process 10 ended without shutdown (killed)")],
        ),
    }
    (tmp_path / "not-a-date").mkdir()
    (tmp_path / "not-a-date" / "stray.log").write_text("")
    return files | {"root": tmp_path}


def test_list_keeps_recent_days_in_start_order(tree: dict[str, Path]) -> None:
    expected = [tree["completed"], tree["signal"], tree["exception"], tree["crashed"]]
    assert expected == list_log_files(days_back=7, log_dir=tree["root"])
    assert [tree["old"], *expected] == list_log_files(days_back=None, log_dir=tree["root"])


def test_latest_is_the_last_started_run(tree: dict[str, Path]) -> None:
    assert tree["crashed"] == get_latest_log_file(tree["root"])


def test_missing_log_dir_has_no_files(tmp_path: Path) -> None:
    assert [] == list_log_files(log_dir=tmp_path / "absent")
    assert get_latest_log_file(tmp_path / "absent") is None


@pytest.mark.parametrize(
    ("name", "outcome", "detail"),
    [
        ("completed", "completed", ""),
        ("signal", "signal", "SIGTERM"),
        ("exception", "exception", "Exception in main after 3 s: ValueError: x"),
        ("crashed", "crashed-without-shutdown", ""),
        ("old", "unfinished", ""),
    ],
)
def test_outcome_of_each_run(tree: dict[str, Path], name: str, outcome: str, detail: str) -> None:
    summary = summarize_log_file(tree[name])
    assert (outcome, detail) == (summary.outcome, summary.detail)
    assert 10 == summary.pid


def test_errors_and_duration_are_counted(tree: dict[str, Path]) -> None:
    summary = summarize_log_file(tree["completed"])
    assert (1, 3, 5.0) == (summary.errors, summary.records, summary.duration)


def test_user_lines_cannot_fake_an_outcome(tmp_path: Path) -> None:
    path = _write(tmp_path, TODAY, "job_12-00-00.log", [("12:00:00", "INFO", "app", "Received signal SIGKILL")])
    assert "unfinished" == summarize_log_file(path).outcome


def test_print_log_summary_shows_one_line_per_run(tree: dict[str, Path]) -> None:
    out = io.StringIO()
    print_log_summary(tree["root"], days_back=7, file=out)
    lines = out.getvalue().splitlines()
    assert "4 run(s)" in lines[0]
    assert 6 == len(lines)
    assert "signal (SIGTERM)" in lines[3]


def test_unreadable_file_raises_naming_it(tmp_path: Path) -> None:
    with pytest.raises(CrashLoggerError, match=r"missing\.log"):
        summarize_log_file(tmp_path / "missing.log")


def test_lifecycle_lines_of_a_forked_child_do_not_decide_the_outcome(tmp_path: Path) -> None:
    child = _line("09:00:01", "CRITICAL", LIFE, "Received signal SIGTERM (x)", day=TODAY)
    path = tmp_path / "job_12-00-00.log"
    path.write_text(
        _line(*STARTED, day=TODAY)
        + child.replace("MainProcess:10", "ForkProcess-1:77")
        + _line("09:00:02", "INFO", LIFE, "Clean shutdown: cleanup() called; ran 2.000 s", day=TODAY)
    )
    summary = summarize_log_file(path)
    assert ("completed", "", 3, 1) == (summary.outcome, summary.detail, summary.records, summary.errors)
