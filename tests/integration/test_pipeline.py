"""Packages working together: records cross processes and packages without loss or change."""

from __future__ import annotations

import logging
import multiprocessing
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from stalwart.core import Record, iter_jsonl
from stalwart.fallbacks import read_json, write_json
from stalwart.ipc_logger import LoggerConfig, LoggingHandlerAdapter, MasterLogger, WorkerLogger
from stalwart.monitoring import DatabaseHandler, JSONFormatter, read_database
from stalwart.shared_data import SharedStore

WORKERS = 3
RECORDS = 2_000


@pytest.fixture
def sock_dir() -> Iterator[Path]:
    """A short private directory: tmp_path can exceed the 107-byte Unix socket path limit."""
    directory = Path(tempfile.mkdtemp(prefix="swp", dir="/tmp"))
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


def _worker(path: str, number: int, store_path: str) -> None:
    worker = WorkerLogger(LoggerConfig(path=path), f"worker-{number}")
    with SharedStore(store_path) as store:
        for i in range(RECORDS):
            worker.info(f"worker {number} record {i}", extra={"i": i, "worker": number})
            store.incr("logged")
    worker.shutdown(timeout_s=60)


def test_workers_log_through_the_master_into_the_monitoring_database(sock_dir: Path, tmp_path: Path) -> None:
    """ipc-logger → LoggingHandlerAdapter → monitoring's DatabaseHandler: every record, in order, once."""
    path = f"ipc://{sock_dir}/m.sock"
    database = tmp_path / "logs.db"
    store_path = str(tmp_path / "counts.db")
    master = MasterLogger(
        LoggerConfig(path=path, base_level=logging.DEBUG),
        [LoggingHandlerAdapter(DatabaseHandler(database, batch_size=500, flush_interval=0.1))],
    )
    try:
        ctx = multiprocessing.get_context("fork")
        children = [ctx.Process(target=_worker, args=(path, n, store_path)) for n in range(WORKERS)]
        for child in children:
            child.start()
        for child in children:
            child.join(120)
        assert [0] * WORKERS == [child.exitcode for child in children]
    finally:
        master.shutdown()
    rows = [row for row in read_database(database) if "i" in row.extra]
    by_worker: dict[int, list[int]] = {}
    for row in rows:
        by_worker.setdefault(row.extra["worker"], []).append(row.extra["i"])
    assert {n: list(range(RECORDS)) for n in range(WORKERS)} == by_worker
    assert {f"worker-{n}" for n in range(WORKERS)} == {row.logger for row in rows}
    # The master's own lifecycle lines reach the handlers too: one clean shutdown per worker, nothing else.
    others = sorted(row.message for row in read_database(database) if "i" not in row.extra)
    assert WORKERS == len(others), others
    for n, message in enumerate(others):
        assert message.startswith(f"worker worker-{n} (pid ")
        assert message.endswith(f"shut down cleanly after {RECORDS} records")
    with SharedStore(store_path) as store:
        assert WORKERS * RECORDS == store.get("logged")


def test_monitoring_json_lines_decode_as_core_records_and_survive_a_fallbacks_round_trip(tmp_path: Path) -> None:
    """JSONFormatter output is core's schema; fallbacks stores the decoded records exactly."""
    stream_path = tmp_path / "app.jsonl"
    handler = logging.FileHandler(stream_path, encoding="utf-8")
    handler.setFormatter(JSONFormatter())
    logger = logging.getLogger("pipeline.json")
    logger.propagate = False
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        raise KeyError("missing")
    except KeyError:
        logger.exception("lookup failed for %s", "user-7", extra={"attempt": 3})
    logger.info("line one\nline two")
    handler.close()
    with stream_path.open("rb") as lines:
        records = list(iter_jsonl(lines))
    assert ["lookup failed for user-7", "line one\nline two"] == [r.message for r in records]
    assert records[0].exc is not None
    assert "KeyError: 'missing'" in records[0].exc
    assert {"attempt": 3} == records[0].extra
    target = tmp_path / "records.json"
    write_json([r.to_json().decode() for r in records], target)
    assert records == [Record.from_json(text) for text in read_json(target)]
