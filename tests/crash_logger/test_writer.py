"""The writer process's loop, driven in-process through real pipes."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from stalwart.core import Record
from stalwart.crash_logger._protocol import HEADER, RECORDS, records_frame, shutdown_frame
from stalwart.crash_logger._writer import LogWriter, run


def _record(message: str, kind: str = "log", ts_ns: int = 1_700_000_000_000_000_000) -> Record:
    return Record(ts_ns=ts_ns, level=logging.INFO, logger="t", message=message, kind=kind)  # type: ignore[arg-type]


def _run_writer(tmp_path: Path, data: bytes, fault: bytes = b"") -> str:
    log = tmp_path / "out.log"
    log_fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    data_read, data_write = os.pipe()
    fault_read, fault_write = os.pipe()
    writer = LogWriter(log_fd, watched_pid=4242, fsync_every=1)
    thread = threading.Thread(target=run, args=(writer, data_read, fault_read))
    thread.start()
    os.write(data_write, data)
    if fault:
        os.write(fault_write, fault)
    os.close(data_write)
    os.close(fault_write)
    thread.join(30)
    os.close(log_fd)
    os.close(data_read)
    return log.read_text()


def test_clean_shutdown_frame_means_no_crash_line(tmp_path: Path) -> None:
    text = _run_writer(tmp_path, records_frame([_record("one")]) + shutdown_frame("done"))
    assert "| t | one" in text
    assert "ended without shutdown" not in text


def test_end_of_file_without_shutdown_names_the_process_and_last_times(tmp_path: Path) -> None:
    beat = _record("beat", kind="heartbeat", ts_ns=1_700_000_000_500_000_000)
    text = _run_writer(tmp_path, records_frame([beat]) + records_frame([_record("last")]))
    end_line = text.splitlines()[-1]
    assert "| CRITICAL | log-writer:" in end_line
    assert "process 4242 ended without shutdown" in end_line
    assert "last heartbeat at none" not in end_line
    assert "2 records received" in end_line


def test_native_text_comes_after_the_records_logged_before_it(tmp_path: Path) -> None:
    text = _run_writer(tmp_path, records_frame([_record("before crash")]), fault=b"Fatal Python error: Aborted\n")
    assert text.index("before crash") < text.index("Native crash report") < text.index("Fatal Python error")


def test_undecodable_frame_is_reported_and_later_records_still_written(tmp_path: Path) -> None:
    garbage = HEADER.pack(3, RECORDS) + b"\xc1\xc1\xc1"
    text = _run_writer(tmp_path, garbage + records_frame([_record("after garbage")]) + shutdown_frame("ok"))
    assert "undecodable record frame skipped" in text
    assert "| t | after garbage" in text


def test_partial_frame_at_end_of_stream_is_reported(tmp_path: Path) -> None:
    frame = records_frame([_record("cut")])
    text = _run_writer(tmp_path, frame[:-2])
    assert f"{len(frame) - 2} bytes of a partial record frame" in text
