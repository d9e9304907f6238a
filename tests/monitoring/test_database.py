"""DatabaseHandler: every record lands (threads, processes, fork, reopen); retention; bad paths."""

from __future__ import annotations

import decimal
import gc
import io
import logging
import multiprocessing
import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from stalwart.core import Record
from stalwart.monitoring import (
    CorrelationFilter,
    DatabaseHandler,
    HandlerOpenError,
    MonitoringConfigError,
    _database,
    read_database,
    with_correlation,
)

if TYPE_CHECKING:
    from tests.monitoring.conftest import Attach


def close_before_the_writer_starts(handler: DatabaseHandler) -> None:
    """Make ``close()`` run whenever the handler is about to start its writer (a close racing that moment)."""
    start_writer = handler._start_writer

    def close_first() -> None:
        handler.close()
        start_writer()

    handler._start_writer = close_first  # type: ignore[method-assign]


def fail_first_insert(monkeypatch: pytest.MonkeyPatch, error: Exception) -> None:
    """Make the handler's first insert raise ``error``; later inserts go through."""
    real = _database._insert_rows
    failed: list[Exception] = []

    def fail_once(conn: sqlite3.Connection, values: list[object], most: int) -> None:
        if not failed:
            failed.append(error)
            raise error
        real(conn, values, most)

    monkeypatch.setattr(_database, "_insert_rows", fail_once)


def count(path: Path, where: str = "1") -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute(f"SELECT count(*) FROM logs WHERE {where}").fetchone()[0])


def test_every_record_of_100000_from_four_threads_is_written(tmp_path: Path, attach: Attach) -> None:
    path = tmp_path / "logs.db"
    handler = DatabaseHandler(path, batch_size=5000, max_queue=200_000)
    logger = attach(handler, "test.db.threads")
    barrier = threading.Barrier(4)

    def produce(worker: int) -> None:
        barrier.wait(timeout=30)
        for n in range(25_000):
            logger.info("worker %d record %d", worker, n)

    threads = [threading.Thread(target=produce, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    handler.close()
    stats = handler.stats()
    assert (100_000, 0, 0, 0) == (stats.written, stats.dropped, stats.failed, stats.pending)
    assert 100_000 == count(path)
    with sqlite3.connect(path) as conn:
        distinct = conn.execute("SELECT count(DISTINCT message) FROM logs").fetchone()[0]
        templates = conn.execute("SELECT DISTINCT template FROM logs").fetchall()
    assert 100_000 == distinct
    assert [("worker %d record %d",)] == templates


def test_the_database_uses_wal_and_has_the_dashboard_indexes(tmp_path: Path) -> None:
    path = tmp_path / "logs.db"
    DatabaseHandler(path).close()
    with sqlite3.connect(path) as conn:
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
        indexes = {row[1] for row in conn.execute("PRAGMA index_list(logs)")}
    assert "wal" == mode
    assert {"logs_ts", "logs_level_ts", "logs_logger_ts", "logs_correlation", "logs_template"} <= indexes


def test_close_then_reopen_appends_to_the_same_database(tmp_path: Path, attach: Attach) -> None:
    path = tmp_path / "logs.db"
    for round_ in range(3):
        handler = DatabaseHandler(path)
        logger = attach(handler, f"test.db.reopen{round_}")
        for n in range(10):
            logger.warning("round %d n %d", round_, n)
        handler.close()
        handler.close()  # closing twice is harmless
    assert 30 == count(path)


def test_read_database_limit_reads_the_oldest_rows_or_with_newest_the_newest(
    tmp_path: Path, attach: Attach
) -> None:
    path = tmp_path / "logs.db"
    handler = DatabaseHandler(path)
    logger = attach(handler, "test.db.limit")
    for n in range(5):
        logger.info("n=%d", n)
    handler.close()
    assert ["n=0", "n=1"] == [r.message for r in read_database(path, limit=2)]
    assert ["n=3", "n=4"] == [r.message for r in read_database(path, limit=2, newest=True)]
    assert [] == list(read_database(path, limit=0, newest=True))
    with pytest.raises(ValueError, match="limit must be 0 or more"):
        list(read_database(path, limit=-1))


def test_an_extra_whose_key_is_no_str_is_written(tmp_path: Path, attach: Attach) -> None:
    path = tmp_path / "logs.db"
    handler = DatabaseHandler(path)
    extra: dict[Any, object] = {1: "one", "_private": "x"}  # logging accepts keys that are no str
    attach(handler, "test.db.intkey").info("odd extra", extra=extra)
    handler.close()
    (record,) = read_database(path)
    assert {"1": "one"} == record.extra
    assert 0 == handler.stats().failed


class _DetachedInstance:
    """An ORM object detached from its session: its repr raises."""

    def __repr__(self) -> str:
        raise RuntimeError("DetachedInstanceError")


def test_extras_whose_repr_raises_or_too_long_for_str_are_written(tmp_path: Path, attach: Attach) -> None:
    path = tmp_path / "logs.db"
    handler = DatabaseHandler(path)
    attach(handler, "test.db.badextra").info("kept", extra={"user": _DetachedInstance(), "count": 10**5000})
    handler.close()
    (record,) = read_database(path)
    assert "_DetachedInstance object at 0x" in record.extra["user"]
    assert hex(10**5000) == record.extra["count"]
    assert 0 == handler.stats().failed


def test_fields_round_trip_through_read_database(tmp_path: Path, attach: Attach) -> None:
    path = tmp_path / "logs.db"
    handler = DatabaseHandler(path)
    handler.addFilter(CorrelationFilter())
    logger = attach(handler, "test.db.fields")
    with with_correlation("req-42"):
        logger.error("failed for %s", "ada", extra={"attempt": 3, "tags": ["x"]})
    try:
        raise ValueError("bad")
    except ValueError:
        logger.exception("crashed")
    handler.close()
    first, second = list(read_database(path))
    assert ("failed for ada", logging.ERROR, "test.db.fields", "req-42") == (
        first.message, first.level, first.logger, first.correlation_id,
    )  # fmt: skip
    assert {"attempt": 3, "tags": ["x"]} == first.extra
    assert second.exc is not None
    assert second.exc.endswith("ValueError: bad")


def test_flush_interval_writes_a_partial_batch_without_close(tmp_path: Path, attach: Attach) -> None:
    path = tmp_path / "logs.db"
    handler = DatabaseHandler(path, batch_size=1000, flush_interval=0.05)
    logger = attach(handler, "test.db.timer")
    logger.info("lonely record")
    deadline = time.monotonic() + 30
    while count(path) == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert 1 == count(path)
    handler.close()


def test_a_full_queue_drops_and_counts_instead_of_growing(tmp_path: Path, attach: Attach) -> None:
    handler = DatabaseHandler(tmp_path / "logs.db", batch_size=1000, flush_interval=3600, max_queue=10)
    logger = attach(handler, "test.db.bounded")
    for n in range(25):
        logger.info("n %d", n)
    assert (10, 15) == (handler.stats().pending, handler.stats().dropped)
    handler.close()
    assert 10 == count(tmp_path / "logs.db", "logger = 'test.db.bounded'")


SUMMARY = f"logger = '{_database._DROP_LOGGER}'"


def summaries(path: Path) -> list[Record]:
    return [r for r in read_database(path) if r.logger == _database._DROP_LOGGER]


def test_records_dropped_just_before_close_are_reported_by_a_summary_row(tmp_path: Path, attach: Attach) -> None:
    handler = DatabaseHandler(tmp_path / "logs.db", batch_size=1000, flush_interval=3600, max_queue=10)
    logger = attach(handler, "test.db.report-at-close")
    for n in range(25):
        logger.info("n %d", n)
    handler.close()  # the 15 drops are reported by close's final write, not lost with the writer
    (summary,) = summaries(tmp_path / "logs.db")
    assert 15 == handler.stats().dropped
    assert (15, 10) == (summary.extra["dropped"], summary.extra["max_queue"])
    assert "DatabaseHandler dropped 15 records: queue full (max_queue=10)" == summary.message
    assert (logging.WARNING, 10) == (summary.level, handler.stats().written)  # the summary is no record


def test_a_gap_is_reported_after_the_rows_accepted_before_it_with_the_dropped_records_times(tmp_path: Path) -> None:
    path = tmp_path / "logs.db"
    handler = DatabaseHandler(path, batch_size=5, flush_interval=3600, max_queue=20)
    base = time.time()
    records = []
    for i in range(30):
        record = logging.LogRecord("test.db.gap", logging.INFO, __file__, 1, "n %d", (i,), None)
        record.created = base + i / 1000
        records.append(record)
    with handler._sqlite_lock:  # the writer waits for it before opening the database: nothing is written
        for record in records:
            handler.handle(record)
        assert (20, 10) == (handler.stats().pending, handler.stats().dropped)
    handler.flush()
    rows = list(read_database(path))
    stamps = [int(record.created * 1_000_000_000) for record in records]
    assert [f"n {i}" for i in range(20)] + ["DatabaseHandler dropped 10 records: queue full (max_queue=20)"] == [
        r.message for r in rows
    ]
    summary = rows[-1]
    expected_extra = {"dropped": 10, "first_dropped_ns": stamps[20], "last_dropped_ns": stamps[29], "max_queue": 20}
    assert expected_extra == summary.extra
    assert (stamps[29], logging.WARNING, _database._DROP_LOGGER) == (summary.ts_ns, summary.level, summary.logger)
    with sqlite3.connect(path) as conn:
        columns = "template, typeof(correlation_id), typeof(func), typeof(line), typeof(exc)"
        nulls = conn.execute(f"SELECT {columns} FROM logs WHERE {SUMMARY}").fetchall()
    assert [(_database._DROP_TEMPLATE, "null", "null", "null", "null")] == nulls
    handler.close()
    assert 1 == count(path, SUMMARY)  # reported once: close has nothing more to report
    assert (20, 10, 0) == (handler.stats().written, handler.stats().dropped, handler.stats().pending)


def test_each_gap_gets_its_own_summary_and_their_counts_sum_to_the_dropped_total(
    tmp_path: Path, attach: Attach
) -> None:
    path = tmp_path / "logs.db"
    handler = DatabaseHandler(path, batch_size=1000, flush_interval=3600, max_queue=10)
    logger = attach(handler, "test.db.gaps")
    expected = []
    for gap, dropped in enumerate((3, 7, 1)):
        for n in range(10 + dropped):  # 10 fill the queue, the rest are dropped
            logger.info("gap %d n %d", gap, n)
        handler.flush()
        expected += [f"gap {gap} n {n}" for n in range(10)]
        expected.append(f"DatabaseHandler dropped {dropped} records: queue full (max_queue=10)")
    handler.close()
    assert expected == [r.message for r in read_database(path)]
    assert [3, 7, 1] == [s.extra["dropped"] for s in summaries(path)]
    assert 11 == handler.stats().dropped


def test_nothing_dropped_writes_no_summary_row(tmp_path: Path, attach: Attach) -> None:
    path = tmp_path / "logs.db"
    handler = DatabaseHandler(path, batch_size=10, max_queue=50)
    logger = attach(handler, "test.db.nodrop")
    for n in range(200):
        logger.info("n %d", n)
        if n % 40 == 39:
            handler.flush()
    handler.close()
    assert (0, 0, 200) == (handler.stats().dropped, count(path, SUMMARY), count(path))


def test_every_drop_is_reported_exactly_once_while_four_threads_flood_a_running_writer(
    tmp_path: Path, attach: Attach
) -> None:
    path = tmp_path / "logs.db"
    handler = DatabaseHandler(path, batch_size=50, flush_interval=0.01, max_queue=200)
    logger = attach(handler, "test.db.flood")
    phase = threading.Barrier(5)

    def produce(worker: int) -> None:
        for n in range(1000):  # the writer is held: all but 200 of the 4000 are dropped
            logger.info("worker %d n %d", worker, n)
        phase.wait(timeout=30)
        for n in range(1000, 4000):  # drops race the writer taking them
            logger.info("worker %d n %d", worker, n)

    threads = [threading.Thread(target=produce, args=(w,)) for w in range(4)]
    with handler._sqlite_lock:
        for thread in threads:
            thread.start()
        phase.wait(timeout=30)
    for thread in threads:
        thread.join(120)
    handler.close()
    stats = handler.stats()
    reported = summaries(path)
    assert stats.dropped == sum(s.extra["dropped"] for s in reported)
    assert 16_000 == stats.written + stats.dropped
    assert stats.dropped >= 3800
    assert stats.written == count(path, "logger = 'test.db.flood'")
    assert all(s.extra["first_dropped_ns"] <= s.extra["last_dropped_ns"] == s.ts_ns for s in reported)


def test_records_dropped_after_close_are_counted_but_not_written(tmp_path: Path, attach: Attach) -> None:
    path = tmp_path / "logs.db"
    handler = DatabaseHandler(path)
    logger = attach(handler, "test.db.after-close")
    logger.info("kept")
    handler.close()
    logger.info("late 1")
    logger.info("late 2")
    assert 2 == handler.stats().dropped
    assert ["kept"] == [r.message for r in read_database(path)]


def test_a_summary_whose_write_failed_is_reported_by_the_next_write_with_later_drops(
    tmp_path: Path, attach: Attach, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "logs.db"
    handler = DatabaseHandler(path, batch_size=1000, flush_interval=3600, max_queue=10)
    logger = attach(handler, "test.db.summary-retry")
    fail_first_insert(monkeypatch, sqlite3.OperationalError("disk I/O error"))
    monkeypatch.setattr(handler, "handleError", lambda record: None)
    for n in range(15):
        logger.info("first %d", n)
    handler.flush()  # the batch and its summary of 5 are rolled back together
    assert (0, 10, 5) == (count(path), handler.stats().failed, handler.stats().dropped)
    for n in range(12):
        logger.info("second %d", n)
    handler.close()
    assert [7] == [s.extra["dropped"] for s in summaries(path)]
    assert (10, 10, 7) == (handler.stats().written, handler.stats().failed, handler.stats().dropped)


def test_retention_deletes_only_old_rows(tmp_path: Path, attach: Attach) -> None:
    path = tmp_path / "logs.db"
    now = time.time()
    handler = DatabaseHandler(path, retention_days=7, batch_size=100, clock=lambda: now)
    logger = attach(handler, "test.db.retention")
    for age_days, how_many in ((30, 12_000), (8, 3), (6, 5), (0, 7)):
        for n in range(how_many):
            record = logger.makeRecord(
                logger.name, logging.INFO, __file__, 1, "age %d n %d", (age_days, n), None
            )
            record.created = now - age_days * 86_400
            handler.handle(record)
    handler.apply_retention()  # the writer also ran a pass of its own when it started
    assert 12_003 == handler.stats().deleted
    assert 12 == count(path)
    assert 0 == count(path, f"ts_ns < {int((now - 7 * 86_400) * 1e9)}")
    handler.close()


def test_retention_runs_on_its_own_when_the_writer_starts(tmp_path: Path, attach: Attach) -> None:
    path = tmp_path / "logs.db"
    old = DatabaseHandler(path)
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "old", (), None)
    record.created = time.time() - 40 * 86_400
    old.handle(record)
    old.close()
    handler = DatabaseHandler(path, retention_days=1, flush_interval=0.05)
    attach(handler, "test.db.autoretain").info("new")
    deadline = time.monotonic() + 30
    while handler.stats().deleted == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    handler.close()
    assert [("new",)] == sqlite3.connect(path).execute("SELECT message FROM logs").fetchall()


@pytest.mark.parametrize("where", ["missing-dir", "a-directory"])
def test_an_unwritable_path_fails_at_construction(tmp_path: Path, where: str) -> None:
    path = tmp_path / "missing" / "logs.db" if where == "missing-dir" else tmp_path
    with pytest.raises(HandlerOpenError, match="cannot open") as info:
        DatabaseHandler(path)
    assert str(path) == info.value.path


def test_an_existing_database_that_can_only_be_read_fails_at_construction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "logs.db"
    DatabaseHandler(path).close()  # an existing log database

    def read_only(location: str) -> sqlite3.Connection:
        # What a process without write permission gets (root ignores chmod, so open it read-only).
        return sqlite3.connect(f"file:{location}?mode=ro", uri=True, isolation_level=None, check_same_thread=False)

    monkeypatch.setattr(_database, "_connect", read_only)
    with pytest.raises(HandlerOpenError, match="readonly") as info:
        DatabaseHandler(path)
    assert str(path) == info.value.path
    assert 0 == count(path)


def test_bad_sizes_are_rejected() -> None:
    with pytest.raises(MonitoringConfigError, match="batch_size"):
        DatabaseHandler(":memory:", batch_size=0)


def test_write_failures_are_reported_once_per_cause_and_the_handler_keeps_going(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], attach: Attach
) -> None:
    path = tmp_path / "logs.db"
    handler = DatabaseHandler(path)
    logger = attach(handler, "test.db.failing")
    logger.info("before")
    handler.flush()
    with sqlite3.connect(path) as conn:
        conn.execute("ALTER TABLE logs RENAME TO moved")
    for n in range(3):
        logger.info("lost %d", n)
        handler.flush()
    with sqlite3.connect(path) as conn:
        conn.execute("ALTER TABLE moved RENAME TO logs")
    logger.info("after")
    handler.close()
    stats = handler.stats()
    assert (2, 3, 3) == (stats.written, stats.failed, handler.error_count)
    assert 1 == capsys.readouterr().err.count("--- Logging error ---")
    assert 2 == count(path)


def _child_logs(path: str, handler: DatabaseHandler) -> None:
    logger = logging.getLogger("test.db.fork")
    for n in range(500):
        logger.info("child %d", n)
    handler.close()
    os._exit(0)


def test_a_forked_child_writes_through_its_own_writer_thread(tmp_path: Path, attach: Attach) -> None:
    path = tmp_path / "logs.db"
    handler = DatabaseHandler(path, batch_size=50)
    logger = attach(handler, "test.db.fork")
    for n in range(120):  # the parent's writer is running and holds a partial batch
        logger.info("parent %d", n)
    child = multiprocessing.get_context("fork").Process(target=_child_logs, args=(str(path), handler))
    child.start()
    child.join(60)
    assert 0 == child.exitcode
    handler.close()
    assert (120, 500) == (count(path, "message LIKE 'parent%'"), count(path, "message LIKE 'child%'"))


def test_several_processes_write_to_one_database(tmp_path: Path) -> None:
    path = tmp_path / "logs.db"
    DatabaseHandler(path).close()
    script = tmp_path / "writer.py"
    script.write_text(
        textwrap.dedent(
            """
            import logging, sys
            from stalwart.monitoring import DatabaseHandler
            handler = DatabaseHandler(sys.argv[1], batch_size=500)
            logger = logging.getLogger("proc")
            logger.addHandler(handler)
            logger.setLevel(logging.INFO)
            for n in range(5000):
                logger.info("proc %s n %d", sys.argv[2], n)
            handler.close()
            sys.exit(0 if handler.stats().written == 5000 else 1)
            """
        )
    )
    procs = [subprocess.Popen([sys.executable, str(script), str(path), str(i)]) for i in range(3)]
    assert [0, 0, 0] == [p.wait(timeout=120) for p in procs]
    assert 15_000 == count(path)


def test_reading_a_missing_database_raises() -> None:
    with pytest.raises(HandlerOpenError, match="no such database"):
        list(read_database("/nonexistent/logs.db"))


def test_text_that_is_not_valid_utf8_is_kept_escaped_not_lost(tmp_path: Path, attach: Attach) -> None:
    handler = DatabaseHandler(tmp_path / "logs.db")
    logger = attach(handler, "test.db.surrogates")
    logger.info("file %s", "bad\udcffname")
    logger.info("plain")
    handler.close()
    assert ["file bad\\udcffname", "plain"] == [r.message for r in read_database(tmp_path / "logs.db")]


@pytest.mark.parametrize("total", [1, 1000, 2047, 2048, 2049])
def test_batches_of_any_size_are_written_whole_and_in_order(tmp_path: Path, attach: Attach, total: int) -> None:
    # Batches go in as multi-row statements of power-of-two sizes; every remainder must land too.
    handler = DatabaseHandler(tmp_path / "logs.db", batch_size=2500)
    logger = attach(handler, "test.db.sizes")
    for i in range(total):
        logger.info("n=%d", i)
    handler.close()
    assert [f"n={i}" for i in range(total)] == [r.message for r in read_database(tmp_path / "logs.db")]
    assert total == handler.stats().written


class Unbindable:
    def __str__(self) -> str:
        return "an object"


def test_attributes_sqlite_cannot_bind_are_stored_as_text_not_lost(tmp_path: Path, attach: Attach) -> None:
    handler = DatabaseHandler(tmp_path / "logs.db")
    logger = attach(handler, "test.db.unbindable")
    odd = logger.makeRecord("test.db.unbindable", logging.INFO, "f.py", 1, "odd", (), None)
    odd.funcName = Unbindable()  # type: ignore[assignment]
    odd.lineno = 2**70  # past SQLite's 64-bit integers (the column's affinity then keeps it as a REAL)
    logger.handle(odd)
    logger.info("after")
    handler.close()
    records = list(read_database(tmp_path / "logs.db"))
    assert ["odd", "after"] == [r.message for r in records]
    assert "an object" == records[0].func
    assert 0 == handler.stats().failed


def test_a_minimal_record_from_make_log_record_does_not_cost_its_batch(tmp_path: Path, attach: Attach) -> None:
    handler = DatabaseHandler(tmp_path / "logs.db", batch_size=100)
    logger = attach(handler, "test.db.minimal")
    for i in range(99):
        logger.info("good %d", i)
    handler.handle(logging.makeLogRecord({"msg": "minimal"}))  # name and levelno are None
    handler.close()
    assert [f"good {i}" for i in range(99)] + ["minimal"] == [r.message for r in read_database(tmp_path / "logs.db")]
    assert (100, 0) == (handler.stats().written, handler.stats().failed)


def test_absent_fields_are_stored_as_sql_null_not_as_nan_or_text(tmp_path: Path, attach: Attach) -> None:
    # Rows carry NaN for NULL (it binds faster than None); SQLite must store exactly NULL.
    handler = DatabaseHandler(tmp_path / "logs.db", batch_size=10)
    logger = attach(handler, "test.db.nulls")
    logger.info("plain")
    bare = logging.makeLogRecord({"msg": "bare", "process": None, "threadName": None, "funcName": None})
    bare.lineno = None  # type: ignore[assignment]
    handler.handle(bare)
    handler.close()
    columns = "correlation_id, pid, thread_name, func, line, exc, extra"
    with sqlite3.connect(tmp_path / "logs.db") as conn:
        types = conn.execute(f"SELECT {', '.join(f'typeof({c})' for c in columns.split(', '))} FROM logs").fetchall()
    assert ("null", "integer", "text", "text", "integer", "null", "null") == types[0]
    assert ("null",) * 7 == types[1]
    assert 0 == handler.stats().failed


@pytest.mark.parametrize("adapter", [lambda value: f"{value:.6f}", decimal.Decimal])
def test_a_float_adapter_the_program_registered_does_not_touch_nulls(
    tmp_path: Path, attach: Attach, adapter: Callable[[float], str]
) -> None:
    # sqlite3 adapters are process-wide: one for float would otherwise get the rows' NaN stand-ins.
    key = (float, sqlite3.PrepareProtocol)
    sqlite3.register_adapter(float, adapter)
    try:
        handler = DatabaseHandler(tmp_path / "logs.db", batch_size=10)
        logger = attach(handler, "test.db.adapter")
        for i in range(25):
            logger.info("n=%d", i)
        handler.close()
    finally:
        sqlite3.adapters.pop(key, None)
    assert (25, 0) == (handler.stats().written, handler.stats().failed)
    assert 25 == count(tmp_path / "logs.db", "correlation_id IS NULL AND exc IS NULL AND extra IS NULL")
    assert [None] * 25 == [r.correlation_id for r in read_database(tmp_path / "logs.db")]


def test_a_row_whose_extra_is_not_json_fails_reading_with_a_clear_error(tmp_path: Path, attach: Attach) -> None:
    handler = DatabaseHandler(tmp_path / "logs.db")
    attach(handler, "test.db.badextra").info("hello")
    handler.close()
    with sqlite3.connect(tmp_path / "logs.db") as conn:
        conn.execute("UPDATE logs SET extra = 'nan'")
    with pytest.raises(HandlerOpenError, match="no JSON object"):
        list(read_database(tmp_path / "logs.db"))


class BrokenStr:
    def __str__(self) -> str:
        raise RuntimeError("no str")


def test_a_value_that_cannot_even_be_made_text_keeps_its_row_and_the_writer_alive(
    tmp_path: Path, attach: Attach
) -> None:
    handler = DatabaseHandler(tmp_path / "logs.db", batch_size=10)
    logger = attach(handler, "test.db.brokenstr")
    record = logger.makeRecord("test.db.brokenstr", logging.INFO, "f.py", 1, "broken", (), None)
    record.threadName = BrokenStr()  # type: ignore[assignment]
    logger.handle(record)
    handler.flush()
    logger.info("after")
    handler.flush()
    assert ["broken", "after"] == [r.message for r in read_database(tmp_path / "logs.db")]
    assert handler._writer is not None
    assert handler._writer.is_alive()
    handler.close()
    assert (2, 0, 0) == (handler.stats().written, handler.stats().failed, handler.stats().pending)


def test_a_batch_sqlite_rejects_is_counted_and_reported_and_the_writer_keeps_going(
    tmp_path: Path, attach: Attach, monkeypatch: pytest.MonkeyPatch
) -> None:
    handler = DatabaseHandler(tmp_path / "logs.db", batch_size=5)
    logger = attach(handler, "test.db.rejected")
    fail_first_insert(monkeypatch, RuntimeError("not a sqlite3.Error"))
    monkeypatch.setattr(handler, "handleError", lambda record: None)
    for i in range(10):
        logger.info("n=%d", i)
    handler.close()
    assert ["n=5", "n=6", "n=7", "n=8", "n=9"] == [r.message for r in read_database(tmp_path / "logs.db")]
    assert (5, 5, 0) == (handler.stats().written, handler.stats().failed, handler.stats().pending)


def test_a_handler_whose_construction_failed_is_harmless_at_logging_shutdown(tmp_path: Path) -> None:
    # logging keeps every handler it saw constructed and flushes and closes it at exit.
    handler = DatabaseHandler.__new__(DatabaseHandler)
    with pytest.raises(HandlerOpenError):
        handler.__init__(tmp_path / "missing-dir" / "logs.db")  # type: ignore[misc]
    handler.flush()
    handler.close()
    assert 0 == handler.stats().pending
    logger = logging.getLogger("test.db.failed-construction")
    handler.handle(logger.makeRecord(logger.name, logging.INFO, "f.py", 1, "late", (), None))
    assert 1 == handler.stats().dropped


@pytest.mark.skipif(not hasattr(sqlite3.Connection, "setlimit"), reason="Connection.setlimit needs Python 3.11")
def test_statements_shrink_when_sqlite_allows_fewer_parameters_than_assumed(tmp_path: Path) -> None:
    conn = _database._connect(str(tmp_path / "logs.db"))
    conn.executescript(_database._SCHEMA)
    conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 999)  # type: ignore[attr-defined,unused-ignore]  # 3.11+
    values = [v for i in range(3000) for v in (i, 20, "l", f"m{i}", "t", None, 1, "T", "f", 1, None, None)]
    _database._insert_rows(conn, values, 2048)  # as if the limit were 32,766 (Python 3.10 cannot ask)
    assert [f"m{i}" for i in range(3000)] == [m for (m,) in conn.execute("SELECT message FROM logs ORDER BY id")]
    conn.close()


def test_a_full_batch_handed_over_while_close_runs_before_any_writer_started_is_written(tmp_path: Path) -> None:
    # The record that completes a batch before any writer exists hands the batch over and then starts
    # the writer; close() running in between used to find an empty buffer and queue, and the batch
    # queued after it was never written (counted as accepted, lost).
    path = tmp_path / "logs.db"
    handler = DatabaseHandler(path, batch_size=1, flush_interval=3600)
    close_before_the_writer_starts(handler)
    handler.handle(logging.LogRecord("test.db.race", logging.INFO, __file__, 1, "the batch", (), None))
    assert 1 == count(path, "message = 'the batch'")
    assert (1, 0) == (handler.stats().written, handler.stats().pending)


def test_a_flush_racing_close_has_its_records_written_by_close(tmp_path: Path, attach: Attach) -> None:
    # flush() used to take the buffer, then queue its command: a close() in between stopped the
    # writer first, and the taken rows waited in a queue nobody read (and flush waited 30 s).
    path = tmp_path / "logs.db"
    handler = DatabaseHandler(path, batch_size=1000, flush_interval=3600)
    logger = attach(handler, "test.db.flush-close")
    for n in range(5):
        logger.info("n %d", n)
    close_before_the_writer_starts(handler)
    handler.flush()
    assert 5 == count(path)
    assert (5, 0) == (handler.stats().written, handler.stats().pending)


def test_a_writer_that_cannot_start_leaves_the_log_call_alone_and_close_writes_the_records(
    tmp_path: Path, attach: Attach, monkeypatch: pytest.MonkeyPatch
) -> None:
    # At interpreter shutdown Python 3.12 refuses new threads: the log call used to raise, and
    # close() then failed joining a thread that never started.
    path = tmp_path / "logs.db"
    handler = DatabaseHandler(path, batch_size=2, flush_interval=3600)
    logger = attach(handler, "test.db.no-thread")
    reported: list[str] = []
    monkeypatch.setattr(handler, "handleError", lambda record: reported.append(record.getMessage()))

    def refuse(thread: threading.Thread) -> None:
        raise RuntimeError("can't create new thread at interpreter shutdown")

    with monkeypatch.context() as patched:
        patched.setattr(threading.Thread, "start", refuse)
        for n in range(3):
            logger.info("n %d", n)
        handler.flush()
    assert [f"no writer thread for {path}: records wait for close()"] == reported  # told once
    handler.close()
    assert ["n 0", "n 1", "n 2"] == [r.message for r in read_database(path)]
    assert (3, 0, 0) == (handler.stats().written, handler.stats().failed, handler.stats().pending)


def test_a_database_the_writer_cannot_open_fails_that_batch_and_the_next_one_is_written(
    tmp_path: Path, attach: Attach, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The writer used to open the database once, outside its error handling: a failed open killed
    # the thread, and everything after it waited unwritten and unreported.
    path = tmp_path / "logs.db"
    handler = DatabaseHandler(path, batch_size=5, flush_interval=3600)
    logger = attach(handler, "test.db.open-fails")
    real = _database._connect
    opened: list[str] = []

    def fail_first_open(where: str) -> sqlite3.Connection:
        opened.append(where)
        if len(opened) == 1:
            raise sqlite3.OperationalError("unable to open database file")
        return real(where)

    monkeypatch.setattr(_database, "_connect", fail_first_open)
    reported: list[str] = []
    monkeypatch.setattr(handler, "handleError", lambda record: reported.append(record.getMessage()))
    for n in range(10):
        logger.info("n %d", n)
        if n == 4:
            handler.flush()  # the first batch meets the failed open
    handler.close()
    assert [f"could not write 5 rows to {path}"] == reported
    assert [f"n {n}" for n in range(5, 10)] == [r.message for r in read_database(path)]
    assert (5, 5, 0) == (handler.stats().written, handler.stats().failed, handler.stats().pending)


def test_a_second_close_returns_only_once_the_first_has_written_everything(tmp_path: Path) -> None:
    path = tmp_path / "logs.db"
    handler = DatabaseHandler(path, batch_size=1000, flush_interval=3600)
    for n in range(5):
        handler.handle(logging.LogRecord("test.db.close-twice", logging.INFO, __file__, 1, "n %d", (n,), None))
    rows_seen_by_second_close: list[int] = []
    closers: list[threading.Thread] = []
    write = handler._write

    def close_and_count() -> None:
        handler.close()
        rows_seen_by_second_close.append(count(path))

    def close_again_meanwhile(values: list[object]) -> None:
        # The first close() is about to write the rows: a second close() from another thread must
        # not return before they are written (join's timeout only bounds how long this test looks).
        if values and not closers:
            second = threading.Thread(target=close_and_count)
            closers.append(second)
            second.start()
            second.join(0.2)
        write(values)

    handler._write = close_again_meanwhile  # type: ignore[method-assign]
    handler.close()
    closers[0].join(30)
    assert [5] == rows_seen_by_second_close


def _child_logs_around_parent_close(handler: DatabaseHandler, ready: Any, parent_closed: Any) -> None:
    logger = logging.getLogger("test.db.fork-close")
    for n in range(200):
        logger.info("child %d", n)
    handler.flush()  # the child's own connection is open now
    ready.set()
    parent_closed.wait(60)
    for n in range(200, 400):
        logger.info("child %d", n)
    handler.close()
    os._exit(0 if handler.stats().written == 400 else 1)


def test_a_forked_childs_rows_survive_the_parent_closing_its_handler_first(tmp_path: Path, attach: Attach) -> None:
    # The child kept its copy of the parent's connection; SQLite's per-process lock state then made
    # the child's own connection skip taking its lock, and the parent's close deleted the WAL the
    # child went on writing to: the child's later rows were lost while its stats said written.
    path = tmp_path / "logs.db"
    handler = DatabaseHandler(path, batch_size=50, flush_interval=3600)
    logger = attach(handler, "test.db.fork-close")
    for n in range(10):
        logger.info("parent %d", n)
    handler.flush()  # the parent's writer connection is open when it forks
    context = multiprocessing.get_context("fork")
    ready, parent_closed = context.Event(), context.Event()
    child = context.Process(target=_child_logs_around_parent_close, args=(handler, ready, parent_closed))
    child.start()
    assert ready.wait(60)
    handler.close()
    parent_closed.set()
    child.join(60)
    assert 0 == child.exitcode
    assert (10, 400) == (count(path, "message LIKE 'parent%'"), count(path, "message LIKE 'child%'"))


def test_a_close_interrupting_this_threads_own_close_returns_at_once(tmp_path: Path) -> None:
    # A signal handler's logging.shutdown() interrupting close() used to wait 30 s for the close it
    # interrupted (which can only finish after it returns).
    path = tmp_path / "logs.db"
    handler = DatabaseHandler(path, batch_size=1000, flush_interval=3600)
    handler.handle(logging.LogRecord("test.db.nested-close", logging.INFO, __file__, 1, "row", (), None))
    drain = handler._drain

    def interrupted(*args: Any) -> None:
        handler.close()  # as a signal handler would, on the thread already closing
        drain(*args)

    handler._drain = interrupted  # type: ignore[method-assign]
    handler._writer = None  # close() writes here, on this thread (as when no writer could start)
    closing = threading.Thread(target=handler.close)
    closing.start()
    closing.join(20)  # the old nested wait took 30 s
    assert not closing.is_alive()
    assert 1 == count(path)


def test_a_failed_batch_report_to_a_closed_stderr_does_not_kill_the_writer(
    tmp_path: Path, attach: Attach, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "logs.db"
    handler = DatabaseHandler(path, batch_size=5, flush_interval=3600)
    logger = attach(handler, "test.db.closed-stderr")
    fail_first_insert(monkeypatch, sqlite3.OperationalError("disk I/O error"))
    closed = io.StringIO()
    closed.close()
    monkeypatch.setattr(sys, "stderr", closed)  # stdlib handleError then raises ValueError
    for n in range(10):
        logger.info("n %d", n)
        if n == 4:
            handler.flush()
    handler.flush()
    assert handler._writer is not None
    assert handler._writer.is_alive()
    handler.close()
    assert (5, 5, 1) == (handler.stats().written, handler.stats().failed, handler.error_count)


def test_a_file_that_is_no_database_leaves_no_connection_open(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database file" * 100)
    gc.disable()  # a leaked connection would otherwise be closed by a collection at random
    try:
        before = len(os.listdir("/proc/self/fd"))
        for _ in range(20):
            with pytest.raises(sqlite3.DatabaseError):
                _database._connect(str(junk))
        assert before == len(os.listdir("/proc/self/fd"))
    finally:
        gc.enable()


def test_close_called_from_the_writer_thread_lets_the_writer_finish(
    tmp_path: Path, attach: Attach, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "logs.db"
    handler = DatabaseHandler(path, batch_size=5, flush_interval=3600)
    logger = attach(handler, "test.db.close-from-writer")
    fail_first_insert(monkeypatch, sqlite3.OperationalError("disk I/O error"))
    monkeypatch.setattr(handler, "handleError", lambda record: handler.close())  # a handler that gives up
    for n in range(7):
        logger.info("n %d", n)
    writer = handler._writer
    assert writer is not None
    writer.join(30)
    assert not writer.is_alive()
    assert (2, 5, 0) == (handler.stats().written, handler.stats().failed, handler.stats().pending)


def _child_checks_no_connection_crossed_the_fork(handler: DatabaseHandler) -> None:
    crossed = handler._conn is not None
    logging.getLogger("test.db.fork-hook").info("child")
    handler.close()
    os._exit(0 if not crossed and handler.stats().written == 1 else 1)


def test_no_sqlite_connection_crosses_a_fork_and_the_parent_reopens_its_own(tmp_path: Path, attach: Attach) -> None:
    # A child holding a copy of the parent's connection either lost its rows (SQLite's per-process lock
    # state) or, closing the copy later, could delete a newer WAL of another process: none may cross.
    path = tmp_path / "logs.db"
    handler = DatabaseHandler(path, batch_size=10, flush_interval=3600)
    logger = attach(handler, "test.db.fork-hook")
    logger.info("parent before")
    handler.flush()
    before_fork = handler._conn
    assert before_fork is not None
    child = multiprocessing.get_context("fork").Process(
        target=_child_checks_no_connection_crossed_the_fork, args=(handler,)
    )
    child.start()
    child.join(60)
    assert 0 == child.exitcode
    with pytest.raises(sqlite3.ProgrammingError):  # closed by the before-fork hook, so none was copied
        before_fork.execute("SELECT 1")
    logger.info("parent after")
    handler.close()
    assert 3 == count(path)


def test_a_close_interrupting_this_threads_own_close_waits_for_the_writer(tmp_path: Path) -> None:
    # A SIGTERM handler running logging.shutdown(); sys.exit() inside close(): the nested close must
    # not return before the writer wrote what the outer close queued (it used to return at once, and
    # the exit then killed the daemon writer mid-batch).
    path = tmp_path / "logs.db"
    handler = DatabaseHandler(path, batch_size=1000, flush_interval=3600)
    for n in range(5):
        handler.handle(logging.LogRecord("test.db.sigterm", logging.INFO, __file__, 1, "n %d", (n,), None))
    held = threading.Event()
    write = handler._write

    def slow_write(values: list[object]) -> None:
        held.wait(1.0)  # the writer is busy for up to a second (never released: it just takes that long)
        write(values)

    handler._write = slow_write  # type: ignore[method-assign]
    writer = handler._writer
    assert writer is not None
    seen: list[tuple[bool, int]] = []

    class Interrupted(Exception):
        pass

    real_join = writer.join

    def join_interrupted(timeout: float | None = None) -> None:
        if seen or interrupted:
            real_join(timeout)  # the nested close's own join
            return
        interrupted.append(True)
        handler.close()  # the signal handler's logging.shutdown()
        seen.append((writer.is_alive(), count(path)))
        raise Interrupted  # ... and its sys.exit()

    interrupted: list[bool] = []

    writer.join = join_interrupted  # type: ignore[method-assign]
    with pytest.raises(Interrupted):
        handler.close()
    assert [(False, 5)] == seen
