"""Handlers never re-enter themselves and accept replacement records from filters."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from stalwart.monitoring import (
    CompressedRotatingFileHandler,
    DatabaseHandler,
    GuardedHandler,
    MetricsHandler,
    RedactionFilter,
    read_database,
)

if TYPE_CHECKING:
    from tests.monitoring.conftest import Attach


class Chatty:
    """An argument whose str() logs to the same logger, as badly behaved libraries do."""

    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger

    def __str__(self) -> str:
        self.logger.warning("logged from inside __str__")
        return "chatty"


def test_a_record_logged_while_emitting_is_dropped_and_counted_not_recursed(
    tmp_path: Path, attach: Attach
) -> None:
    handler = CompressedRotatingFileHandler(tmp_path / "app.log")
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = attach(handler, "test.guard.file")
    logger.info("value=%s", Chatty(logger))
    handler.close()
    assert "value=chatty\n" == (tmp_path / "app.log").read_text()
    assert 1 == handler.reentrant_dropped


def test_database_handler_survives_a_logging_argument(tmp_path: Path, attach: Attach) -> None:
    handler = DatabaseHandler(tmp_path / "logs.db")
    logger = attach(handler, "test.guard.db")
    logger.info("value=%s", Chatty(logger))
    handler.close()
    assert ["value=chatty"] == [r.message for r in read_database(tmp_path / "logs.db")]
    assert 1 == handler.reentrant_dropped


def test_a_filter_returning_a_copy_is_emitted_instead_of_the_original() -> None:
    emitted: list[logging.LogRecord] = []

    class Collect(GuardedHandler):
        def emit(self, record: logging.LogRecord) -> None:
            emitted.append(record)

    class CopyFilter(logging.Filter):
        def filter(self, record: logging.LogRecord) -> logging.LogRecord:  # type: ignore[override]  # 3.12 contract
            clone = logging.makeLogRecord(record.__dict__)
            clone.msg = "replaced"
            return clone

    handler = Collect()
    handler.addFilter(CopyFilter())
    original = logging.LogRecord("x", logging.INFO, __file__, 1, "original", (), None)
    assert handler.handle(original) is True
    assert ["replaced"] == [r.msg for r in emitted]
    assert "original" == original.msg


def test_redaction_copy_reaches_our_handlers_on_every_python(tmp_path: Path, attach: Attach) -> None:
    handler = DatabaseHandler(tmp_path / "logs.db")
    handler.addFilter(RedactionFilter())
    attach(handler, "test.guard.redact").info("token=%s", "abc123secret")
    handler.close()
    assert ["token=***"] == [r.message for r in read_database(tmp_path / "logs.db")]


class FailingWrites(GuardedHandler):
    """A handler whose every write fails with an OSError naming a new file, as a rotation's temp name does."""

    def __init__(self, errno_value: int = 28) -> None:
        super().__init__()
        self.errno_value = errno_value
        self.calls = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.calls += 1
        try:
            raise OSError(self.errno_value, "No space left on device", f"/logs/app.log.rotating-{self.calls}")
        except OSError:
            self.handleError(record)


def test_an_os_error_naming_a_new_file_each_time_is_reported_once(
    attach: Attach, capsys: pytest.CaptureFixture[str]
) -> None:
    handler = FailingWrites()
    logger = attach(handler, "test.guard.oserror")
    for i in range(5):
        logger.warning("record %d", i)
    assert 5 == handler.error_count
    assert 1 == capsys.readouterr().err.count("--- Logging error ---")


class VaryingErrors(GuardedHandler):
    """A handler whose failures' text changes with every record (a position, a key)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.calls += 1
        try:
            if record.getMessage() == "disk":
                raise OSError(28, "No space left on device")
            raise ValueError(f"bad byte at position {self.calls}")
        except (OSError, ValueError):
            self.handleError(record)


def test_variants_of_one_error_are_capped_but_a_new_kind_of_error_is_still_reported(
    attach: Attach, capsys: pytest.CaptureFixture[str]
) -> None:
    handler = VaryingErrors()
    logger = attach(handler, "test.guard.many")
    for _ in range(130):
        logger.warning("record")
    logger.warning("disk")
    assert 131 == handler.error_count
    err = capsys.readouterr().err
    assert 101 == err.count("--- Logging error ---")
    assert "No space left on device" in err


def test_a_subclass_overriding_filter_is_still_filtered_without_attached_filters(attach: Attach) -> None:
    class WarningsOnly(MetricsHandler):
        def filter(self, record: logging.LogRecord) -> bool:
            return record.levelno >= logging.WARNING

    handler = WarningsOnly()
    logger = attach(handler, "test.guard.override")
    logger.debug("dropped by the override")
    logger.warning("kept")
    assert 1 == handler.snapshot().total


class UrlErrors(GuardedHandler):
    """Failures that are OSErrors without an errno and with a new text each time (as requests raises)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.calls += 1
        try:
            raise OSError(f"connection to https://example.com/{self.calls} refused")
        except OSError:
            self.handleError(record)


def test_errno_less_os_errors_with_varying_text_are_capped(attach: Attach, capsys: pytest.CaptureFixture[str]) -> None:
    handler = UrlErrors()
    logger = attach(handler, "test.guard.noerrno")
    for _ in range(150):
        logger.warning("record")
    assert 150 == handler.error_count
    assert 100 == capsys.readouterr().err.count("--- Logging error ---")
