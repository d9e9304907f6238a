"""CompressedRotatingFileHandler rotates by size and by time into archives that decompress."""

from __future__ import annotations

import gzip
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from stalwart.monitoring import (
    CompressedRotatingFileHandler,
    MissingDependencyError,
    MonitoringConfigError,
    open_archive,
)

if TYPE_CHECKING:
    from tests.monitoring.conftest import Attach


class FakeClock:
    def __init__(self) -> None:
        self.now = 12 * 86_400.0  # a UTC midnight: a boundary of every interval the tests use

    def __call__(self) -> float:
        return self.now


def all_lines(handler: CompressedRotatingFileHandler) -> list[str]:
    lines: list[str] = []
    for archive in reversed(handler.archives()):
        with open_archive(archive) as stream:
            lines += stream.read().decode().splitlines()
    lines += Path(handler.baseFilename).read_text().splitlines()
    return lines


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_size_rotation_keeps_every_line_in_decompressible_archives(
    tmp_path: Path, compression: str, attach: Attach
) -> None:
    handler = CompressedRotatingFileHandler(
        tmp_path / "app.log", max_bytes=1000, backup_count=50, compression=compression
    )
    logger = attach(handler, f"test.rotate.size.{compression}")
    for n in range(200):
        logger.info("line %04d %s", n, "x" * 20)
    handler.flush()
    assert handler.rotations >= 5
    assert all(os.path.getsize(p) > 0 for p in handler.archives())
    assert os.path.getsize(handler.baseFilename) <= 1000
    assert [f"line {n:04d} {'x' * 20}" for n in range(200)] == all_lines(handler)
    handler.close()


def test_gzip_archives_are_plain_gzip_files(tmp_path: Path, attach: Attach) -> None:
    handler = CompressedRotatingFileHandler(tmp_path / "app.log", max_bytes=100, backup_count=2)
    logger = attach(handler, "test.rotate.gzip")
    for n in range(10):
        logger.info("record %d %s", n, "y" * 30)
    handler.close()
    with gzip.open(str(tmp_path / "app.log.1.gz"), "rt") as stream:
        assert stream.read().startswith("record ")


def test_only_backup_count_archives_are_kept_newest_first(tmp_path: Path, attach: Attach) -> None:
    handler = CompressedRotatingFileHandler(tmp_path / "app.log", max_bytes=50, backup_count=3)
    logger = attach(handler, "test.rotate.keep")
    for n in range(20):
        logger.info("record number %02d padding padding", n)
    handler.close()
    archives = sorted(p.name for p in tmp_path.iterdir() if p.name != "app.log")
    assert ["app.log.1.gz", "app.log.2.gz", "app.log.3.gz"] == archives
    with open_archive(tmp_path / "app.log.1.gz") as newest, open_archive(tmp_path / "app.log.3.gz") as oldest:
        assert newest.read() > oldest.read()  # later record numbers sort higher


def test_time_rotation_happens_when_the_interval_passes(tmp_path: Path, attach: Attach) -> None:
    clock = FakeClock()
    handler = CompressedRotatingFileHandler(tmp_path / "app.log", interval=60, backup_count=5, clock=clock)
    logger = attach(handler, "test.rotate.time")
    logger.info("first period")
    clock.now += 59
    logger.info("still first")
    assert 0 == handler.rotations
    clock.now += 1
    logger.info("second period")
    clock.now += 120
    logger.info("third period")
    handler.close()
    assert 2 == handler.rotations
    with open_archive(tmp_path / "app.log.2.gz") as first, open_archive(tmp_path / "app.log.1.gz") as second:
        assert (b"first period\nstill first\n", b"second period\n") == (first.read(), second.read())
    assert "third period\n" == (tmp_path / "app.log").read_text()


def test_time_rotation_of_an_empty_file_makes_no_archive(tmp_path: Path, attach: Attach) -> None:
    clock = FakeClock()
    handler = CompressedRotatingFileHandler(tmp_path / "app.log", interval=10, clock=clock)
    clock.now += 11
    attach(handler, "test.rotate.empty").info("only")
    handler.close()
    assert [] == handler.archives()


def test_backup_count_zero_keeps_no_archive(tmp_path: Path, attach: Attach) -> None:
    handler = CompressedRotatingFileHandler(tmp_path / "app.log", max_bytes=30, backup_count=0)
    logger = attach(handler, "test.rotate.zero")
    for n in range(5):
        logger.info("record %d with padding", n)
    handler.close()
    assert ["app.log"] == [p.name for p in tmp_path.iterdir()]


def test_bad_settings_are_rejected_by_name(tmp_path: Path) -> None:
    with pytest.raises(MonitoringConfigError, match=r"compression 'lzma'.*gzip"):
        CompressedRotatingFileHandler(tmp_path / "a.log", compression="lzma")
    with pytest.raises(MonitoringConfigError, match="interval"):
        CompressedRotatingFileHandler(tmp_path / "a.log", interval=0)


def test_zstd_without_the_package_says_which_extra_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "zstandard", None)
    with pytest.raises(MissingDependencyError, match=r"stalwart-monitoring\[zstd\]"):
        CompressedRotatingFileHandler(tmp_path / "a.log", compression="zstd")


def test_a_failing_rotation_is_reported_once_and_logging_continues(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], attach: Attach
) -> None:
    handler = CompressedRotatingFileHandler(tmp_path / "app.log", max_bytes=20, backup_count=1)
    logger = attach(handler, "test.rotate.fail")
    logger.info("first record fills it")

    def broken(source: str, target: str) -> None:
        raise OSError("disk full")

    handler._compress = broken  # type: ignore[method-assign]
    for n in range(3):
        logger.info("record %d after the break", n)
    handler.close()
    # Each record found the file full and tried to rotate; every rotation failed.
    assert 1 == capsys.readouterr().err.count("--- Logging error ---")
    assert 3 == handler.error_count
    # Nothing is lost: the files set aside for compression stay, and every record was written.
    assert "record 2 after the break\n" == (tmp_path / "app.log").read_text()
    kept = sorted((p for p in tmp_path.iterdir() if ".rotating-" in p.name), key=lambda p: p.name)
    assert ["first record fills it\n", "record 0 after the break\n", "record 1 after the break\n"] == [
        p.read_text() for p in kept
    ]


def test_restarts_keep_the_rotation_schedule(tmp_path: Path) -> None:
    clock = FakeClock()
    logger = logging.getLogger("test.rotate.restarts")
    logger.propagate = False
    for restart in range(96):  # a service restarted every 30 minutes for 2 days, rotating daily
        handler = CompressedRotatingFileHandler(tmp_path / "app.log", interval=86_400, clock=clock)
        logger.addHandler(handler)
        logger.warning("restart %d", restart)
        logger.removeHandler(handler)
        handler.close()
        os.utime(tmp_path / "app.log", (clock.now, clock.now))  # the file system's clock is the fake one
        clock.now += 1800
    assert ["app.log", "app.log.1.gz"] == sorted(p.name for p in tmp_path.iterdir())
    assert 48 == len((tmp_path / "app.log").read_text().splitlines())


def test_a_file_from_an_earlier_period_is_rotated_by_the_first_record(tmp_path: Path, attach: Attach) -> None:
    clock = FakeClock()
    path = tmp_path / "app.log"
    path.write_text("yesterday\n")
    os.utime(path, (clock.now - 3600, clock.now - 3600))  # written before the boundary at clock.now
    clock.now += 60
    handler = CompressedRotatingFileHandler(path, interval=86_400, clock=clock)
    attach(handler, "test.rotate.stale").info("today")
    handler.close()
    with open_archive(tmp_path / "app.log.1.gz") as archive:
        assert b"yesterday\n" == archive.read()
    assert "today\n" == path.read_text()


def test_a_lone_surrogate_is_written_as_an_escape(tmp_path: Path, attach: Attach) -> None:
    handler = CompressedRotatingFileHandler(tmp_path / "app.log", max_bytes=10_000)
    attach(handler, "test.rotate.surrogate").info("opened %s", b"report-\xff.csv".decode("utf-8", "surrogateescape"))
    handler.close()
    assert "opened report-\\udcff.csv\n" == (tmp_path / "app.log").read_text()


def test_files_set_aside_by_failed_rotations_are_archived_in_order_once_compression_works(
    tmp_path: Path, attach: Attach
) -> None:
    handler = CompressedRotatingFileHandler(tmp_path / "app.log", max_bytes=20, backup_count=10)
    logger = attach(handler, "test.rotate.recover")
    real = handler._compress
    logger.info("record 0 fills it")

    def broken(source: str, target: str) -> None:
        raise OSError("disk full")

    handler._compress = broken  # type: ignore[method-assign]
    for n in range(1, 4):
        logger.info("record %d fills it", n)
    handler._compress = real  # type: ignore[method-assign]
    logger.info("record 4 fills it")
    handler.flush()
    assert [] == [p.name for p in tmp_path.iterdir() if ".rotating-" in p.name or ".tmp-" in p.name]
    assert [f"record {n} fills it" for n in range(5)] == all_lines(handler)
    handler.close()


def test_a_rotation_killed_mid_compression_is_finished_by_the_next_process(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    script = f"""
import logging, os
from stalwart.monitoring import CompressedRotatingFileHandler
handler = CompressedRotatingFileHandler({str(log)!r}, max_bytes=20, backup_count=5)
def killed(source, target):
    open(target + ".tmp-" + str(os.getpid()), "wb").write(b"half")
    os._exit(9)
handler._compress = killed
logger = logging.getLogger("killed")
logger.addHandler(handler)
logger.warning("old record fills it")
logger.warning("new record")
"""
    result = subprocess.run([sys.executable, "-c", script], timeout=60, check=False)
    assert 9 == result.returncode
    assert 2 == len([p for p in tmp_path.iterdir() if ".rotating-" in p.name or ".tmp-" in p.name])
    handler = CompressedRotatingFileHandler(log, max_bytes=20, backup_count=5)
    logger = logging.getLogger("test.rotate.killed")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("third record fills it")
        logger.warning("fourth record")
        handler.flush()
        assert [] == [p.name for p in tmp_path.iterdir() if ".rotating-" in p.name or ".tmp-" in p.name]
        # "new record" never was: the process died in the rotation that came before writing it.
        assert ["old record fills it", "third record fills it", "fourth record"] == all_lines(handler)
    finally:
        logger.removeHandler(handler)
        handler.close()


def test_leftover_cleanup_never_touches_another_files_temp_archive(tmp_path: Path, attach: Attach) -> None:
    sibling = tmp_path / f"app.log.debug.1.gz.tmp-{os.getpid()}"
    sibling.write_bytes(b"another handler compressing right now")
    handler = CompressedRotatingFileHandler(tmp_path / "app.log", max_bytes=20, backup_count=3)
    logger = attach(handler, "test.rotate.sibling")
    logger.info("first record fills it")
    logger.info("second record")
    handler.flush()
    assert sibling.exists()
    assert ["first record fills it", "second record"] == all_lines(handler)
    handler.close()


def test_a_dead_processs_temp_archive_of_another_compression_setting_is_removed(
    tmp_path: Path, attach: Attach
) -> None:
    # A pid above any real one (pid_max is at most 2**22): its process cannot be alive.
    stale = tmp_path / "app.log.1.gz.tmp-4999999"
    stale.write_bytes(b"half an archive")
    handler = CompressedRotatingFileHandler(tmp_path / "app.log", max_bytes=20, backup_count=3, compression="none")
    logger = attach(handler, "test.rotate.othersuffix")
    logger.info("first record fills it")
    logger.info("second record")
    handler.flush()
    assert not stale.exists()
    handler.close()


@pytest.mark.parametrize("max_bytes", [0, 1000], ids=["no-size-limit", "size-limit"])
def test_a_file_that_cannot_be_opened_is_reported_once_per_record_and_never_raised(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], attach: Attach, max_bytes: int
) -> None:
    path = tmp_path / "app.log"
    path.mkdir()  # delay=True (as the profiles set it) opens the file with the first record
    handler = CompressedRotatingFileHandler(path, max_bytes=max_bytes, delay=True)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = attach(handler, f"test.rotate.unopenable.{max_bytes}")
    for n in range(3):
        logger.error("lost %d", n)  # must not raise IsADirectoryError into the application
    assert 3 == handler.error_count
    assert 1 == capsys.readouterr().err.count("--- Logging error ---")
    path.rmdir()
    logger.error("written once the path is a file again")
    handler.close()
    assert "written once the path is a file again\n" == path.read_text()


def test_a_record_that_cannot_be_formatted_is_one_error_with_a_size_limit(tmp_path: Path, attach: Attach) -> None:
    handler = CompressedRotatingFileHandler(tmp_path / "app.log", max_bytes=1000)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = attach(handler, "test.rotate.unformattable")
    logger.info("before")  # the size check formats only once the file holds something
    logger.info("%d apples", "some")
    logger.info("after")
    handler.close()
    assert (1, "before\nafter\n") == (handler.error_count, (tmp_path / "app.log").read_text())
