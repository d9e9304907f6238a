"""Handlers never re-enter themselves and accept replacement records from filters."""

from __future__ import annotations

import logging
from collections.abc import Callable
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


class FailingHandler(GuardedHandler):
    """A handler whose every write fails with ``make_error(write number, record)``, reported via handleError."""

    def __init__(self, make_error: Callable[[int, logging.LogRecord], Exception]) -> None:
        super().__init__()
        self.make_error = make_error
        self.calls = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.calls += 1
        try:
            raise self.make_error(self.calls, record)
        except Exception:  # noqa: BLE001 - whatever make_error made
            self.handleError(record)


def test_an_os_error_naming_a_new_file_each_time_is_reported_once(
    attach: Attach, capsys: pytest.CaptureFixture[str]
) -> None:
    # An OSError naming a new file each time, as a rotation's temp name does.
    handler = FailingHandler(lambda n, _: OSError(28, "No space left on device", f"/logs/app.log.rotating-{n}"))
    logger = attach(handler, "test.guard.oserror")
    for i in range(5):
        logger.warning("record %d", i)
    assert 5 == handler.error_count
    assert 1 == capsys.readouterr().err.count("--- Logging error ---")


def test_variants_of_one_error_are_capped_but_a_new_kind_of_error_is_still_reported(
    attach: Attach, capsys: pytest.CaptureFixture[str]
) -> None:
    def varying(n: int, record: logging.LogRecord) -> Exception:
        # Failures whose text changes with every record (a position, a key), then a disk error.
        if record.getMessage() == "disk":
            return OSError(28, "No space left on device")
        return ValueError(f"bad byte at position {n}")

    handler = FailingHandler(varying)
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


def test_errno_less_os_errors_with_varying_text_are_capped(attach: Attach, capsys: pytest.CaptureFixture[str]) -> None:
    # OSErrors without an errno and with a new text each time, as requests raises them.
    handler = FailingHandler(lambda n, _: OSError(f"connection to https://example.com/{n} refused"))
    logger = attach(handler, "test.guard.noerrno")
    for _ in range(150):
        logger.warning("record")
    assert 150 == handler.error_count
    assert 100 == capsys.readouterr().err.count("--- Logging error ---")
