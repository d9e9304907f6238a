from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest
from stalwart.core import Record, iter_jsonl
from stalwart.ipc_logger import (
    FileLogHandler,
    HandlerError,
    LoggingHandlerAdapter,
    RecordFormatter,
    StreamLogHandler,
)

_TS = 1_700_000_000_123_000_000


def _records() -> list[Record]:
    return [
        Record(ts_ns=_TS, level=20, logger="app", message="first"),
        Record(ts_ns=_TS, level=40, logger="app.db", message="second\nline", extra={"table": "users"}),
    ]


def test_file_handler_writes_formatted_lines_with_any_suffix(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "dir" / "out.weird-suffix"
    handler = FileLogHandler(
        path, create=True, formatter=RecordFormatter("%(levelname)s %(name)s %(message)s")
    )
    handler.push(_records())
    handler.close()
    assert "INFO app first\nERROR app.db second\nline\n" == path.read_text()


def test_file_handler_appends_and_json_lines_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    for _ in range(2):
        handler = FileLogHandler(path, json_lines=True)
        handler.push(_records())
        handler.close()
    with open(path, "rb") as handle:
        assert _records() * 2 == list(iter_jsonl(handle))


def test_file_handler_without_create_requires_the_directory(tmp_path: Path) -> None:
    missing = tmp_path / "missing" / "out.log"
    with pytest.raises(HandlerError, match="does not exist") as info:
        FileLogHandler(missing, create=False)
    assert str(missing) == info.value.target


def test_file_handler_that_cannot_open_raises_handler_error(tmp_path: Path) -> None:
    with pytest.raises(HandlerError, match="cannot open"):
        FileLogHandler(tmp_path)  # a directory


def test_stream_handler_writes_to_the_given_stream() -> None:
    stream = io.StringIO()
    StreamLogHandler(stream, formatter=RecordFormatter("%(name)s|%(message)s")).push(_records()[:1])
    assert "app|first\n" == stream.getvalue()


def test_logging_adapter_feeds_a_stdlib_handler_with_extra_fields() -> None:
    stream = io.StringIO()
    stdlib = logging.StreamHandler(stream)
    stdlib.setFormatter(logging.Formatter("%(levelname)s:%(name)s:%(message)s:%(table)s"))
    stdlib.setLevel(logging.WARNING)
    adapter = LoggingHandlerAdapter(stdlib)
    adapter.push(_records())
    adapter.close()
    assert "ERROR:app.db:second\nline:users\n" == stream.getvalue()


class _LockedDatabase(logging.Handler):
    """Fails like stdlib handlers do: catch, then report through handleError."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            raise RuntimeError(f"database is locked ({record.getMessage()})")
        except RuntimeError:
            self.handleError(record)


def test_adapter_turns_handle_error_reports_into_one_handler_error_per_batch() -> None:
    stdlib = _LockedDatabase()
    adapter = LoggingHandlerAdapter(stdlib)
    with pytest.raises(HandlerError, match="2 of 2 records failed") as info:
        adapter.push(_records())
    assert isinstance(info.value.__cause__, RuntimeError)
    assert "first" in str(info.value.__cause__)
    assert "handleError" not in vars(stdlib)  # the handler's own method is back
