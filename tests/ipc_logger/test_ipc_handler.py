from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest
from stalwart.core import Record
from stalwart.ipc_logger import FileLogHandler, IPCHandler, LoggerConfig, MasterLogger


def test_stdlib_logger_calls_reach_the_master_with_location_extra_and_traceback(
    ipc_path: str, sock_dir: Path, read_jsonl: Callable[[Path], list[Record]]
) -> None:
    config = LoggerConfig(path=ipc_path)
    out = sock_dir / "stdlib.jsonl"
    with MasterLogger(config, [FileLogHandler(out, json_lines=True)]):
        handler = IPCHandler(config, "app-worker")
        logger = logging.getLogger("tests.ipc.handler")
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
        logger.propagate = False
        items = ["a"]
        logger.info("user %s has %d items", "ada", len(items), extra={"request_id": "r-1"})
        items.append("b")  # changing arguments after the call must not change the message
        logger.debug("below base_level, skipped")
        try:
            raise ValueError("bad value")
        except ValueError:
            logger.exception("it failed")
        logger.removeHandler(handler)
        handler.close()
    records = [r for r in read_jsonl(out) if r.logger == "tests.ipc.handler"]
    assert ["user ada has 1 items", "it failed"] == [r.message for r in records]
    first, second = records
    assert ("r-1", "test_ipc_handler", 1) == (first.extra["request_id"], first.module, first.seq)
    assert "test_stdlib_logger_calls_reach_the_master" in (first.func or "")
    assert second.exc is not None
    assert "ValueError: bad value" in second.exc


def test_close_without_a_master_warns_instead_of_raising(ipc_path: str) -> None:
    handler = IPCHandler(LoggerConfig(path=ipc_path), "orphan", shutdown_timeout_s=0.3)
    handler.handle(logging.LogRecord("x", logging.ERROR, __file__, 1, "lost?", None, None))
    with pytest.warns(RuntimeWarning, match="did not acknowledge"):
        handler.close()


def test_emit_leaves_the_record_intact_for_the_next_handler(ipc_path: str) -> None:
    handler = IPCHandler(LoggerConfig(path=ipc_path), "copy", shutdown_timeout_s=0.3)
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "n=%d", (5,), None)
    handler.handle(record)
    assert ("n=%d", (5,)) == (record.msg, record.args)
    with pytest.warns(RuntimeWarning):
        handler.close()
