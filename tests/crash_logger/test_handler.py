"""PipeHandler: the fast record conversion matches the core bridge; concurrent logging stays intact."""

from __future__ import annotations

import logging
import os
import sys
import threading
from pathlib import Path

from stalwart.core import decode_batch
from stalwart.crash_logger import setup_logging
from stalwart.crash_logger._handler import PipeHandler
from stalwart.crash_logger._protocol import FrameReader


def _log_record(msg: str = "n=%d", args: tuple[object, ...] = (3,), **attrs: object) -> logging.LogRecord:
    record = logging.LogRecord("app", logging.INFO, "/src/app.py", 12, msg, args, None, func="run")
    for key, value in attrs.items():
        setattr(record, key, value)
    return record


def _with_exception() -> logging.LogRecord:
    try:
        raise ValueError("x")
    except ValueError:
        record = _log_record()
        record.exc_info = sys.exc_info()
        return record


def test_each_emit_writes_one_whole_frame_before_returning(tmp_path: Path) -> None:
    read_end, write_end = os.pipe()
    handler = PipeHandler(write_end, tmp_path / "unused.log")
    try:
        handler.handle(_log_record())
        frames = FrameReader().feed(os.read(read_end, 65536))
    finally:
        os.close(read_end)
        os.close(write_end)
        handler.close()
    assert ["n=3"] == [decode_batch(payload)[0].message for _, payload in frames]


def test_threads_logging_at_once_never_interleave_records(tmp_path: Path) -> None:
    logger, crash_logger = setup_logging("threads", log_dir=tmp_path, heartbeat_interval=0, log_system_info=False)
    long_tail = "x" * 6000  # bigger than PIPE_BUF, so one record takes several pipe writes

    def spam(worker: int) -> None:
        for i in range(200):
            logger.info("worker %d record %d %s", worker, i, long_tail)

    threads = [threading.Thread(target=spam, args=(w,)) for w in range(4)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    finally:
        crash_logger.cleanup()
    lines = [line for line in crash_logger.log_file.read_text().splitlines() if "| threads | worker" in line]
    expected = {f"worker {w} record {i} {long_tail}" for w in range(4) for i in range(200)}
    assert expected == {line.rsplit(" | ", 1)[1] for line in lines}
    assert 800 == len(lines)
