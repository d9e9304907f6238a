"""A SQLite log handler: one writer thread, WAL, batched inserts, bounded queue, retention."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import queue
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import msgspec
from stalwart.core import Record, to_jsonable, to_utf8_text
from stalwart.monitoring._errors import HandlerOpenError, MonitoringConfigError
from stalwart.monitoring._fields import TEMPLATE_ATTRIBUTE, exception_text, message_and_extras
from stalwart.monitoring._guard import GuardedHandler
from stalwart.monitoring._json import json_default

__all__ = ["DatabaseHandler", "DatabaseStats", "read_database"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS logs (
    id INTEGER PRIMARY KEY,
    ts_ns INTEGER NOT NULL,
    level INTEGER NOT NULL,
    logger TEXT NOT NULL,
    message TEXT NOT NULL,
    template TEXT NOT NULL,
    correlation_id TEXT,
    pid INTEGER,
    thread_name TEXT,
    func TEXT,
    line INTEGER,
    exc TEXT,
    extra TEXT
);
CREATE INDEX IF NOT EXISTS logs_ts ON logs (ts_ns);
CREATE INDEX IF NOT EXISTS logs_level_ts ON logs (level, ts_ns) WHERE level >= 30;
CREATE INDEX IF NOT EXISTS logs_logger_ts ON logs (logger, ts_ns);
CREATE INDEX IF NOT EXISTS logs_correlation ON logs (correlation_id) WHERE correlation_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS logs_template ON logs (template);
"""
_COLUMNS = "ts_ns, level, logger, message, template, correlation_id, pid, thread_name, func, line, exc, extra"
_COLUMN_COUNT = 12
# Rows go in as multi-row ``INSERT ... VALUES (...), (...), ...`` statements. ``executemany`` steps
# once per row and hands the GIL back and forth with the logging threads at every step (under load
# that convoy cut inserts to a few hundred rows/s); a batch as one JSON array through ``json_each``
# avoids the convoy but SQLite then parses every row's JSON (measured ~1.5x slower than this).
# Each statement still waits for the GIL once after SQLite ran (up to the 5 ms switch interval
# while logging threads are busy), so statements are as large as the parameter limit allows
# (measured: 2048 rows/statement ~1.15x the handler throughput of 512, 64 rows ~0.9x).
# Statement sizes are powers of two, so a handful of prepared statements serve every batch size.
_MAX_ROWS_PER_STATEMENT = 2048
# SQLite before 3.32 allows 999 bound parameters per statement.
_LEGACY_VARIABLE_LIMIT = 999


@functools.cache  # a handful of power-of-two sizes; the 2048-row text is ~70 kB, built once
def _insert_statement(rows: int) -> str:
    placeholders = "(" + ", ".join("?" * _COLUMN_COUNT) + ")"
    return f"INSERT INTO logs ({_COLUMNS}) VALUES " + ", ".join([placeholders] * rows)


def _statement_rows(conn: sqlite3.Connection) -> int:
    """Return the most rows one statement may carry: a power of two within SQLite's parameter limit."""
    try:
        limit = conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)  # type: ignore[attr-defined,unused-ignore]
    except AttributeError:  # Python < 3.11 cannot ask
        limit = _LEGACY_VARIABLE_LIMIT if sqlite3.sqlite_version_info < (3, 32) else 32_766
    rows = 1
    while rows * 2 <= min(_MAX_ROWS_PER_STATEMENT, limit // _COLUMN_COUNT):
        rows *= 2
    return rows


# What a row carries for SQL NULL. Python's sqlite3 binds int, float and str directly but sends None
# through its adapter lookup, which on CPython 3.11 raises and discards an AttributeError per value
# (measured: 0.49 us per None against 0.09 per float; three NULLs a row cost ~1.2 us). SQLite
# stores a bound NaN as NULL (sqlite3VdbeMemSetDouble), so NaN is a NULL that binds at float speed.
_NULL = float("nan")
# sqlite3's registry key for an adapter of float values.
_FLOAT_ADAPTER = (float, sqlite3.PrepareProtocol)


def _bindable(value: Any) -> Any:
    """Return ``value`` as something SQLite can store: lone surrogates escaped, odd types as text."""
    if isinstance(value, str):
        return to_utf8_text(value)
    if value is None or isinstance(value, float) or (isinstance(value, int) and -(2**63) <= value < 2**63):
        return value
    try:
        return str(value)
    except Exception:  # noqa: BLE001 - a broken __str__ must not cost the batch its rows
        return object.__repr__(value)


def _insert_rows(conn: sqlite3.Connection, values: list[Any], most: int) -> None:
    """Insert the rows laid end to end in ``values`` with statements of at most ``most`` rows (a power of two) each."""
    rows = len(values) // _COLUMN_COUNT
    start = 0
    size = most
    while start < rows:
        while size > rows - start:
            size //= 2
        chunk = values[start * _COLUMN_COUNT : (start + size) * _COLUMN_COUNT]
        if _FLOAT_ADAPTER in sqlite3.adapters:
            # The program registered an adapter for float (process-wide): it would turn _NULL into
            # whatever it makes of NaN, so these rows bind real None.
            chunk = [None if value is _NULL else value for value in chunk]
        statement = _insert_statement(size)
        try:
            conn.execute(statement, chunk)
        except (UnicodeEncodeError, OverflowError, sqlite3.ProgrammingError, sqlite3.InterfaceError):
            # A value SQLite cannot bind (lone surrogates from an undecodable file name, an int past
            # 64 bits, an object a LogRecord attribute was set to; Python 3.10 says InterfaceError for
            # that, later versions ProgrammingError): keep the row, as text.
            conn.execute(statement, [_bindable(value) for value in chunk])
        except sqlite3.OperationalError as exc:
            # Python 3.10 cannot ask SQLite its parameter limit, so a build with a lower one than its
            # version suggests refuses the statement when preparing it (nothing was inserted): halve.
            if "too many SQL variables" not in str(exc) or size == 1:
                raise
            size //= 2
            continue
        start += size


# A write that is rolled back: an existing database the process may only read fails here, at construction.
_PROBE_WRITE = "INSERT INTO logs (ts_ns, level, logger, message, template) VALUES (0, 0, '', '', '')"
_RETENTION_CHUNK = 5_000
# The logger name of everything the handler says about itself: the row that reports a gap of dropped
# records, written by the writer thread straight into ``logs`` (never through logging: the handler would
# be re-entered, and under a flood the report would be dropped like the records it reports), and the
# stand-in records its handleError reports describe.
_DROP_LOGGER = "stalwart.monitoring.DatabaseHandler"
_DROP_TEMPLATE = "DatabaseHandler dropped %d records: queue full (max_queue=%d)"
_WAIT_SECONDS = 30.0


def _report(level: int, msg: str, *args: object) -> logging.LogRecord:
    """Return the stand-in record a ``handleError`` report of the handler itself describes."""
    return logging.LogRecord(_DROP_LOGGER, level, __file__, 0, msg, args, None)

Row = tuple[Any, ...]
# Rows wait laid end to end in one flat list of values (``_COLUMN_COUNT`` per row), which is what a
# multi-row statement binds: no per-row tuple stays alive (thousands of them made the garbage
# collector run every 700 records) and the writer binds slices instead of re-joining tuples.
Values = list[Any]


@dataclass(frozen=True)
class DatabaseStats:
    """Counters of a :class:`DatabaseHandler`.

    Attributes:
        written: Rows committed to the database.
        dropped: Records refused because the queue was full (or the handler closed). Those refused
            for a full queue are also reported in the database by summary rows (see
            :class:`DatabaseHandler`); those refused after close only here.
        failed: Rows lost because the database refused a write (reported via ``handleError``).
        pending: Records accepted but not yet committed.
        deleted: Rows removed by retention.
    """

    written: int
    dropped: int
    failed: int
    pending: int
    deleted: int


@dataclass
class _Command:
    kind: str  # "flush" | "retention" | "stop"
    values: Values
    done: threading.Event = field(default_factory=threading.Event)
    cutoff_ns: int = 0
    result: int = 0


def _connect(path: str) -> sqlite3.Connection:
    # Autocommit mode: transactions are explicit, one per batch.
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30.0)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        # A 64 MiB page cache keeps the index pages hot: index upkeep is most of an insert's cost.
        conn.execute("PRAGMA cache_size=-65536")
        # Checkpoint every ~40 MiB of WAL instead of ~4 MiB (fewer copy + fsync passes under a steady
        # stream of batches), and cut the WAL file back to 64 MiB after a checkpoint.
        conn.execute("PRAGMA wal_autocheckpoint=10000")
        conn.execute("PRAGMA journal_size_limit=67108864")
    except BaseException:
        conn.close()  # a file that is no database (the writer retries every batch): no descriptor left open
        raise
    return conn


_live: weakref.WeakSet[DatabaseHandler] = weakref.WeakSet()
_fork_hook_installed = False
_held_for_fork: list[threading.Lock] = []


# SQLite holds process-wide mutexes while a call runs; a fork in the middle of one leaves the
# child's copy locked forever. So no writer may be inside SQLite while the process forks.
def _before_fork() -> None:
    for handler in list(_live):
        lock = handler._sqlite_lock
        lock.acquire()
        _held_for_fork.append(lock)
        # No connection may cross a fork (SQLite's own rule): SQLite keeps a file's lock state per
        # process, so a child holding a copy of the parent's connection opens its own believing it
        # holds a lock it never took, and then the parent's last close deletes the WAL the child writes
        # to (its rows lost); closing the copy later in the child can delete a newer WAL of another
        # process. So the parent closes its writer connection here (its writer is outside SQLite: the
        # lock is held) and reopens it on its next write.
        handler._drop_connection(checkpoint=False)


def _after_fork_in_parent() -> None:
    while _held_for_fork:
        _held_for_fork.pop().release()


def _after_fork_in_child() -> None:
    _held_for_fork.clear()
    for handler in list(_live):
        handler._reset_after_fork()


class DatabaseHandler(GuardedHandler):
    """Write records to a SQLite database in batches from one writer thread.

    ``emit`` turns the record into a row on the caller's thread (so later
    changes to its arguments cannot leak in) and appends it to a buffer;
    every ``batch_size`` rows, or after ``flush_interval`` seconds without a
    full batch, the writer thread inserts them in one transaction with
    multi-row ``INSERT`` statements (up to 2048 rows each). The database
    runs in WAL mode, so readers (a dashboard, the CLI) never block the
    writer. The table ``logs`` has indexes on ``ts_ns``, ``(level, ts_ns)``
    for WARNING and above (the levels a dashboard filters on; indexing every
    INFO row by level costs a sixth of the insert rate), ``(logger, ts_ns)``,
    ``correlation_id`` (non-null) and ``template``. At most ``max_queue``
    records wait at once; beyond that
    records are dropped and counted (:meth:`stats`), never buffered without
    limit, and the gap is reported in the database itself: the next write
    (a batch, a timer tick, ``flush`` or ``close``) adds one WARNING row,
    logger ``stalwart.monitoring.DatabaseHandler``, template
    ``"DatabaseHandler dropped %d records: queue full (max_queue=%d)"``,
    ``extra`` ``{"dropped", "first_dropped_ns", "last_dropped_ns",
    "max_queue"}`` (the smallest and largest ``ts_ns`` of the dropped
    records) and ``ts_ns`` = ``last_dropped_ns``, so it sorts where the gap
    ends. Each dropped record is counted in exactly one such row; records
    dropped after ``close`` are counted in :meth:`stats` only. With
    ``retention_days``, rows older than that are deleted in small chunks at
    start and every ``retention_interval`` seconds. A formatter,
    if set, is not used: the columns hold the structured fields.

    Args:
        path: Database file; its directory must exist.
        batch_size: Rows per insert transaction.
        flush_interval: Seconds a partial batch may wait.
        retention_days: Keep rows this many days; ``None`` keeps everything.
        max_queue: Most records waiting to be written before new ones are dropped.
        retention_interval: Seconds between retention passes.
        level: Handler level.
        clock: Wall clock in seconds, for retention (injectable for tests).

    Raises:
        HandlerOpenError: If the database cannot be created or written (a
            rolled-back test insert is made at construction, so an existing
            read-only database fails here, not at the first batch).
        MonitoringConfigError: On a non-positive size or interval.
    """

    _emit_needs_lock = False

    def __init__(
        self,
        path: str | os.PathLike[str],
        batch_size: int = 1000,
        flush_interval: float = 1.0,
        retention_days: float | None = None,
        *,
        max_queue: int = 100_000,
        retention_interval: float = 3600.0,
        level: int | str = logging.NOTSET,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(level)
        # logging keeps every constructed handler and flushes and closes them at exit: one whose
        # construction fails below must still be a closed, harmless handler then.
        self._closed = True
        self._deleted = 0
        self._init_runtime()
        for name, value in (
            ("batch_size", batch_size),
            ("flush_interval", flush_interval),
            ("max_queue", max_queue),
            ("retention_interval", retention_interval),
        ):
            if not value > 0:
                raise MonitoringConfigError(name, value, ["a number > 0"])
        if retention_days is not None and not retention_days > 0:
            raise MonitoringConfigError("retention_days", retention_days, ["None", "a number > 0"])
        self.path = os.fspath(path)
        self.batch_size = int(batch_size)
        self.flush_interval = float(flush_interval)
        self.retention_days = retention_days
        self.retention_interval = float(retention_interval)
        self.max_queue = int(max_queue)
        self._clock = clock
        self._encoder = msgspec.json.Encoder(enc_hook=json_default)
        try:
            conn = _connect(self.path)
            try:
                conn.executescript(_SCHEMA)
                # CREATE ... IF NOT EXISTS writes nothing on an existing database: probe a real write.
                conn.execute("BEGIN IMMEDIATE")
                try:
                    conn.execute(_PROBE_WRITE)
                finally:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
            finally:
                conn.close()
        except (sqlite3.Error, OSError) as exc:
            raise HandlerOpenError(self.path, str(exc)) from exc
        self._closed = False
        self._close_done.clear()
        global _fork_hook_installed
        if not _fork_hook_installed and hasattr(os, "register_at_fork"):
            os.register_at_fork(
                before=_before_fork,
                after_in_parent=_after_fork_in_parent,
                after_in_child=_after_fork_in_child,
            )
            _fork_hook_installed = True
        _live.add(self)

    def _init_runtime(self) -> None:
        """(Re)create the per-process state: buffer, queue, counters; the writer starts lazily."""
        self._buf: Values = []
        self._buf_lock = threading.Lock()
        self._queue: queue.SimpleQueue[Values | _Command] = queue.SimpleQueue()
        self._enqueued = 0  # rows handed to the writer (producer side only)
        self._done = 0  # rows the writer finished, written or failed (writer side only)
        self._written = 0
        self._failed = 0
        self._dropped = 0
        # Records dropped for a full queue and not yet reported in the database, with the smallest
        # and largest ts_ns among them (all guarded by _buf_lock; the writer takes and resets them).
        self._gap_dropped = 0
        self._gap_first_ns = 0
        self._gap_last_ns = 0
        self._writer: threading.Thread | None = None
        self._writer_lock = threading.Lock()
        # The writer's connection, opened on first use, again after a failed open (see _connection) and
        # after every fork (see _before_fork: none crosses one).
        self._conn: sqlite3.Connection | None = None
        # Set when the first close() is done, so a concurrent close() returns only then (set from the
        # start while closed: a handler whose construction failed, or one a forked child inherits closed).
        self._close_done = threading.Event()
        self._closing_thread: int | None = None
        self._start_failure_reported = False
        if self._closed:
            self._close_done.set()
        self._sqlite_lock = threading.Lock()  # held by the writer while inside SQLite

    def _reset_after_fork(self) -> None:
        # The parent's writer thread does not exist here and its buffered rows are the parent's to write.
        self._init_runtime()

    # -- producer side -------------------------------------------------------

    def _row(self, record: logging.LogRecord) -> Row:
        message, extras = message_and_extras(record)
        extra_json: str | float = _NULL
        if extras:
            try:
                extra_json = self._encoder.encode(extras).decode()
            except (TypeError, ValueError, OverflowError, RecursionError):
                extra_json = self._encoder.encode(to_jsonable(extras)).decode()
        instance = record.__dict__
        cid = instance.get("correlation_id")
        # record_template(record) and exception_text(record), inlined (-8% instructions a row).
        template = instance.get(TEMPLATE_ATTRIBUTE)
        if template is None:
            template = record.msg
        if type(template) is not str:
            template = str(template)
        exc = record.exc_text
        if record.exc_info and not exc:
            exc = exception_text(record)
        # Nullable columns carry _NULL (NaN, which SQLite stores as NULL) instead of None: see _NULL.
        pid, thread_name, func, line = record.process, record.threadName, record.funcName, record.lineno
        return (
            int(record.created * 1_000_000_000),
            # NOT NULL columns: a record from makeLogRecord({"msg": ...}) has neither (one NULL would
            # roll back its whole batch).
            record.levelno or 0,
            "" if record.name is None else record.name,
            message,
            template,
            _NULL if cid is None else str(cid),
            _NULL if pid is None else pid,
            _NULL if thread_name is None else thread_name,
            _NULL if func is None else func,
            _NULL if line is None else line,
            exc or _NULL,
            extra_json,
        )

    def emit(self, record: logging.LogRecord) -> None:
        """Queue ``record`` for writing; drop and count it if the queue is full or the handler closed."""
        try:
            row = self._row(record)
        except Exception:  # noqa: BLE001 - a broken record must not break the caller
            self.handleError(record)
            return
        with self._buf_lock:
            buffered = len(self._buf) // _COLUMN_COUNT
            if self._closed or self._enqueued - self._done + buffered >= self.max_queue:
                self._dropped += 1
                if not self._closed:
                    # The gap the writer reports, timed by the records' own ts_ns (no clock read,
                    # and the same clock as the rows around the gap).
                    ts_ns = row[0]
                    if not self._gap_dropped:
                        self._gap_first_ns = self._gap_last_ns = ts_ns
                    elif ts_ns < self._gap_first_ns:
                        self._gap_first_ns = ts_ns
                    elif ts_ns > self._gap_last_ns:
                        self._gap_last_ns = ts_ns
                    self._gap_dropped += 1
                return
            self._buf += row
            if buffered + 1 >= self.batch_size:
                # Queued under the lock (the queue is unbounded: put never blocks), so a batch taken
                # before close() is queued before close() looks: ahead of its stop command, or in the
                # queue close() drains itself when no writer ever started.
                self._queue.put(self._buf)
                self._buf = []
                self._enqueued += buffered + 1
        if self._writer is None:
            try:
                self._start_writer()
            except RuntimeError:
                # No new thread at interpreter shutdown (Python 3.12): the records wait, close() writes them.
                if not self._start_failure_reported:
                    self._start_failure_reported = True
                    notice = _report(logging.WARNING, "no writer thread for %s: records wait for close()", self.path)
                    self.handleError(notice)

    def _take_buffer(self) -> Values:
        with self._buf_lock:
            return self._take_buffer_locked()

    def _take_buffer_locked(self) -> Values:
        """Hand the buffered rows over to the writer (counted as enqueued); call with ``_buf_lock`` held."""
        values = self._buf
        self._buf = []
        self._enqueued += len(values) // _COLUMN_COUNT
        return values

    def _start_writer(self) -> None:
        """Start the writer thread unless one runs or the handler is closed.

        Raises:
            RuntimeError: No thread can start (at interpreter shutdown); no writer is recorded, so
                ``close()`` writes what waits itself.
        """
        with self._writer_lock:
            if self._writer is None and not self._closed:
                writer = threading.Thread(
                    target=self._run, name=f"stalwart-db-writer:{os.path.basename(self.path)}", daemon=True
                )
                writer.start()
                self._writer = writer

    def _command(self, kind: str, cutoff_ns: int = 0) -> _Command | None:
        """Hand the writer the buffer with a command and wait (up to 30 s) until it ran; None once closed."""
        try:
            self._start_writer()
        except RuntimeError:
            return None  # no thread at interpreter shutdown: close() writes what waits
        with self._buf_lock:
            # Checked, taken and queued in one step (as emit queues a batch): close() then either comes
            # first (nothing is taken) or finds the command queued ahead of its stop.
            if self._closed or self._writer is None:
                return None
            command = _Command(kind, self._take_buffer_locked(), cutoff_ns=cutoff_ns)
            self._queue.put(command)
        # The timeout keeps a wedged disk from hanging the caller (and shutdown) for ever; a writer that
        # died (it may only through a broken error report) is not waited for: close() writes what waits.
        writer = self._writer
        deadline = time.monotonic() + _WAIT_SECONDS
        while not command.done.wait(0.1):
            if not writer.is_alive() or time.monotonic() >= deadline:
                break
        return command

    def flush(self) -> None:
        """Write every accepted record and wait (up to 30 s) until it is committed."""
        if not self._closed and self._writer is not None:
            self._command("flush")

    def apply_retention(self) -> int:
        """Delete rows older than ``retention_days`` now, in chunks; return how many were deleted.

        Returns:
            The number of rows deleted (0 when no retention is configured or the handler is closed).
        """
        if self.retention_days is None or self._closed:
            return 0
        command = self._command("retention", self._cutoff_ns())
        return 0 if command is None else command.result

    def _cutoff_ns(self) -> int:
        assert self.retention_days is not None
        return int((self._clock() - self.retention_days * 86_400.0) * 1_000_000_000)

    def stats(self) -> DatabaseStats:
        """Return the handler's counters."""
        with self._buf_lock:
            pending = self._enqueued - self._done + len(self._buf) // _COLUMN_COUNT
        return DatabaseStats(self._written, self._dropped, self._failed, pending, self._deleted)

    def close(self) -> None:
        """Write everything accepted, stop the writer thread and close the database."""
        values: Values = []
        with self._writer_lock, self._buf_lock:
            already = self._closed
            self._closed = True
            writer = self._writer
            if not already:
                self._closing_thread = threading.get_ident()
                values = self._take_buffer_locked()
                if writer is not None:
                    # Queued in the same step that closes: closed always means the stop is queued.
                    self._queue.put(_Command("stop", values))
                    values = []
        ownself = writer is threading.current_thread()  # from the writer, via an error handler
        if already:
            if self._closing_thread != threading.get_ident():
                # Another close() runs: return once it has written everything (a reader may follow).
                self._close_done.wait(_WAIT_SECONDS)
            elif writer is not None and not ownself:
                # This thread's own close(), interrupted (a signal handler's logging.shutdown, perhaps
                # followed by sys.exit): it cannot finish first, but its writer can.
                writer.join(_WAIT_SECONDS)
        else:
            try:
                if writer is not None and not ownself:
                    writer.join(_WAIT_SECONDS)
                if (writer is None or not writer.is_alive()) and (
                    values or self._gap_dropped or not self._queue.empty()
                ):
                    # No writer ever ran (records accepted or dropped before it started, or it could not
                    # start) or it is gone: write here what waits, the queued batches first (they are older).
                    try:
                        self._drain()
                        self._write(values)
                    finally:
                        self._close_connection()
            finally:
                _live.discard(self)
                self._close_done.set()
        super().close()

    # -- writer side ---------------------------------------------------------

    def _run(self) -> None:
        try:
            next_retention = time.monotonic()
            while True:
                try:
                    item = self._queue.get(timeout=self.flush_interval)
                except queue.Empty:
                    item = self._take_buffer()
                if isinstance(item, list):
                    self._write(item)
                else:
                    self._write(item.values)
                    if item.kind == "retention":
                        item.result = self._delete_old(item.cutoff_ns)
                    elif item.kind == "stop":
                        self._drain()
                        item.done.set()
                        return
                    item.done.set()
                if self.retention_days is not None and time.monotonic() >= next_retention:
                    self._delete_old(self._cutoff_ns())
                    next_retention = time.monotonic() + self.retention_interval
        finally:
            self._close_connection()

    def _connection(self) -> sqlite3.Connection:
        """Return the writer's connection, opening it first if needed; call with ``_sqlite_lock`` held.

        An open that fails (the directory was removed, the disk is gone) fails the write that
        needed it, which reports and counts it; the next write tries again.
        """
        if self._conn is None:
            self._conn = _connect(self.path)
        return self._conn

    def _close_connection(self) -> None:
        with self._sqlite_lock:
            self._drop_connection()

    def _drop_connection(self, *, checkpoint: bool = True) -> None:
        """Close the writer's connection; call with ``_sqlite_lock`` held.

        Args:
            checkpoint: Whether closing the last connection may checkpoint the WAL into the
                database (SQLite's default). The fork hook says no where Python lets it (3.12+):
                a fork would otherwise wait for a whole WAL to be copied (~300 ms for 40 MB).
        """
        if self._conn is not None:
            conn, self._conn = self._conn, None
            with contextlib.suppress(sqlite3.Error):
                if not checkpoint and hasattr(conn, "setconfig"):
                    conn.setconfig(sqlite3.SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, True)  # type: ignore[attr-defined,unused-ignore]
                conn.close()

    def _drain(self) -> None:
        """Write what is still queued: a flush racing close (behind the stop), or every batch when no writer ran."""
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            self._write(item if isinstance(item, list) else item.values)
            if isinstance(item, _Command):
                item.done.set()

    def _take_gap(self) -> tuple[int, int, int] | None:
        """Take the drops not yet reported as ``(count, first_ns, last_ns)``; ``None`` if there are none."""
        # An unlocked peek keeps the lock off the writer's way while nothing is dropped; a drop racing
        # past it is reported by the next write (and close's final write comes after every drop the
        # database can report: emit counts none once _closed is set, which happens before the stop).
        if not self._gap_dropped:
            return None
        with self._buf_lock:
            gap = (self._gap_dropped, self._gap_first_ns, self._gap_last_ns)
            self._gap_dropped = 0
        return gap

    def _restore_gap(self, gap: tuple[int, int, int]) -> None:
        """Give back drops whose summary row was rolled back, merged with any dropped since."""
        dropped, first_ns, last_ns = gap
        with self._buf_lock:
            if self._gap_dropped:
                first_ns = min(first_ns, self._gap_first_ns)
                last_ns = max(last_ns, self._gap_last_ns)
            self._gap_dropped += dropped
            self._gap_first_ns = first_ns
            self._gap_last_ns = last_ns

    def _gap_row(self, gap: tuple[int, int, int]) -> Values:
        """Return the summary row reporting ``gap``, laid out like a batch of one row."""
        dropped, first_ns, last_ns = gap
        extra = {
            "dropped": dropped, "first_dropped_ns": first_ns, "last_dropped_ns": last_ns, "max_queue": self.max_queue,
        }  # fmt: skip
        # ts_ns is the last dropped record's: the row sorts (ts_ns, id) right after the gap it reports
        # rather than at whatever later moment the writer got to it, and retention ages it with its gap.
        return [
            last_ns, logging.WARNING, _DROP_LOGGER, _DROP_TEMPLATE % (dropped, self.max_queue), _DROP_TEMPLATE,
            _NULL, os.getpid(), threading.current_thread().name, _NULL, _NULL, _NULL,
            self._encoder.encode(extra).decode(),
        ]  # fmt: skip

    def _write(self, values: Values) -> None:
        gap = self._take_gap()
        if not values and gap is None:
            return
        rows = len(values) // _COLUMN_COUNT
        try:
            with self._sqlite_lock:
                conn = self._connection()
                try:
                    conn.execute("BEGIN")
                    most = _statement_rows(conn)
                    _insert_rows(conn, values, most)
                    if gap is not None:
                        # After the batch: the rows that filled the queue were accepted before the drops.
                        _insert_rows(conn, self._gap_row(gap), most)
                    conn.execute("COMMIT")
                except Exception:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
        except Exception:  # noqa: BLE001 - the writer thread must outlive any batch (it is reported)
            self._failed += rows
            if gap is not None:
                self._restore_gap(gap)  # the next write reports it again
            summary = "" if gap is None else " and a drop summary"
            self.handleError(_report(logging.ERROR, "could not write %d rows%s to %s", rows, summary, self.path))
        else:
            # The summary row is not a record: written, failed and _done (the queue's bound) count records.
            self._written += rows
        finally:
            self._done += rows

    def _delete_old(self, cutoff_ns: int) -> int:
        """Delete rows with ``ts_ns < cutoff_ns``, one chunk per transaction, never blocking writers long."""
        deleted = 0
        try:
            while True:
                with self._sqlite_lock:
                    cursor = self._connection().execute(
                        "DELETE FROM logs WHERE id IN (SELECT id FROM logs WHERE ts_ns < ? LIMIT ?)",
                        (cutoff_ns, _RETENTION_CHUNK),
                    )
                deleted += cursor.rowcount
                if cursor.rowcount < _RETENTION_CHUNK:
                    break
        except sqlite3.Error:
            self.handleError(_report(logging.ERROR, "retention delete failed in %s", self.path))
        self._deleted += deleted
        return deleted


def read_database(
    path: str | os.PathLike[str], *, since_ns: int = 0, limit: int | None = None, newest: bool = False
) -> Iterator[Record]:
    """Read the rows a :class:`DatabaseHandler` wrote back as :class:`~stalwart.core.Record`, oldest first.

    Args:
        path: The database file.
        since_ns: Only rows with ``ts_ns >= since_ns``.
        limit: At most this many rows: the oldest ones, or with ``newest`` the newest ones.
        newest: With ``limit``, read the newest rows (as ``tail`` does); they are still yielded oldest first.

    Yields:
        One record per row.

    Raises:
        HandlerOpenError: If the file is not a readable log database (also raised when a row's
            ``extra`` column holds something other than a JSON object).
        ValueError: If ``limit`` is negative.
    """
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be 0 or more, not {limit}")
    location = os.fspath(path)
    if not os.path.isfile(location):
        raise HandlerOpenError(location, "no such database file")
    try:
        conn = sqlite3.connect(f"file:{location}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise HandlerOpenError(location, str(exc)) from exc
    decoder = msgspec.json.Decoder(dict[str, Any])
    try:
        columns = "ts_ns, level, logger, message, correlation_id, pid, thread_name, func, line, exc, extra"
        sql = f"SELECT {columns} FROM logs WHERE ts_ns >= ? ORDER BY ts_ns, id"
        params: tuple[int, ...] = (since_ns,)
        if limit is not None and newest:
            sql = (
                f"SELECT {columns} FROM (SELECT id, {columns} FROM logs WHERE ts_ns >= ?"
                " ORDER BY ts_ns DESC, id DESC LIMIT ?) ORDER BY ts_ns, id"
            )
            params = (since_ns, limit)
        elif limit is not None:
            sql += " LIMIT ?"
            params = (since_ns, limit)
        try:
            cursor = conn.execute(sql, params)
        except sqlite3.Error as exc:
            raise HandlerOpenError(location, str(exc)) from exc
        for ts_ns, level, logger, message, cid, pid, thread_name, func, line, exc_text, extra in cursor:
            try:
                extra_fields = decoder.decode(extra) if extra else {}
            except msgspec.DecodeError as exc:
                reason = f"the row at ts_ns={ts_ns} has an extra that is no JSON object: {exc}"
                raise HandlerOpenError(location, reason) from exc
            yield Record(
                ts_ns=ts_ns, level=level, logger=logger, message=message, correlation_id=cid,
                pid=pid or 0, thread_name=thread_name or "", func=func, line=line, exc=exc_text,
                extra=extra_fields,
            )  # fmt: skip
    finally:
        conn.close()
