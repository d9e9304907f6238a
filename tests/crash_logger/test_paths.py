"""Log file naming: date folders, time-stamped names, never overwriting a same-second run."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest
from stalwart.crash_logger import CrashLoggerError, LogDirError, setup_logging
from stalwart.crash_logger._paths import create_log_file

NOW = dt.datetime(2025, 7, 30, 21, 2, 34)


def test_file_goes_under_a_date_folder_with_the_time_in_its_name(tmp_path: Path) -> None:
    path, fd = create_log_file(tmp_path / "logs", "sqw_execution", NOW)
    os.close(fd)
    assert tmp_path / "logs" / "2025-07-30" / "sqw_execution_21-02-34.log" == path


def test_runs_in_the_same_second_get_distinct_files(tmp_path: Path) -> None:
    paths = []
    for _ in range(3):
        path, fd = create_log_file(tmp_path, "run", NOW)
        os.write(fd, path.name.encode())
        os.close(fd)
        paths.append(path)
    assert ["run_21-02-34.log", "run_21-02-34_1.log", "run_21-02-34_2.log"] == [p.name for p in paths]
    assert [p.name for p in paths] == [p.read_text() for p in paths]


def test_two_real_setups_in_one_second_do_not_share_a_file(tmp_path: Path) -> None:
    files = []
    for _ in range(2):
        _, crash_logger = setup_logging("same", log_dir=tmp_path, heartbeat_interval=0, log_system_info=False)
        crash_logger.cleanup()
        files.append(crash_logger.log_file)
    assert files[0] != files[1]
    assert all(1 == f.read_text().count("Crash-safe logging started") for f in files)


def test_descriptor_appends_and_is_not_inherited(tmp_path: Path) -> None:
    path, fd = create_log_file(tmp_path, "run", NOW)
    try:
        assert not os.get_inheritable(fd)
        os.write(fd, b"a")
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, b"b")
    finally:
        os.close(fd)
    assert "ab" == path.read_text()


@pytest.mark.parametrize("prefix", ["", "a/b", "..", "x\0y"])
def test_prefix_that_is_not_a_file_name_is_refused(prefix: str, tmp_path: Path) -> None:
    with pytest.raises(CrashLoggerError, match="log_file_prefix"):
        create_log_file(tmp_path, prefix, NOW)


def test_date_folder_blocked_by_a_file_names_the_folder(tmp_path: Path) -> None:
    (tmp_path / "2025-07-30").write_text("in the way")
    with pytest.raises(LogDirError, match="2025-07-30"):
        create_log_file(tmp_path, "run", NOW)
