"""One SQLite connection per store object per process, re-opened after ``fork``.

SQLite forbids using, or even closing, a connection in a forked child: the
child inherits SQLite's in-memory record of the parent's locks, and a new
connection in the child would trust it. So before a fork every store waits for
its in-flight operation (up to its ``timeout``) and its idle connection is
closed; both processes re-open lazily. A connection still busy at the fork
(another thread's long ``transaction()``, or the forking thread's own) cannot
be made safe in the child: there it is kept referenced forever (so it is never
closed) and the store refuses use with :class:`StoreClosedError`. A ``pid``
check on every use covers forks that bypass ``os.register_at_fork`` hooks.
"""

from __future__ import annotations

import itertools
import os
import sqlite3
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final

from stalwart.shared_data._errors import SharedDataError, StoreClosedError
from stalwart.shared_data._schema import connect, translate_error

__all__ = ["StoreConnection"]

_live: weakref.WeakSet[StoreConnection] = weakref.WeakSet()
_locked_for_fork: list[StoreConnection] = []
# Connections inherited through fork; referenced forever so they are never closed in the child.
_abandoned: list[sqlite3.Connection] = []
_FORKED_BUSY: Final = (
    "the process forked while this store was in use (a transaction or an operation in another "
    "thread); SQLite cannot use that file safely in the child. Fork when no store operation is "
    "running, or open stores only after the fork"
)
_hooks_installed = False
_hooks_lock = threading.Lock()
_savepoint_ids = itertools.count()


def _before_fork() -> None:
    for store in list(_live):
        # Bounded: a thread inside a long transaction() may be waiting for the forking thread.
        if not store.lock.acquire(timeout=store.timeout):
            continue
        _locked_for_fork.append(store)
        store.close_if_idle()


def _after_fork_in_parent() -> None:
    while _locked_for_fork:
        _locked_for_fork.pop().lock.release()


def _after_fork_in_child() -> None:
    _locked_for_fork.clear()
    for store in list(_live):
        store.reset_after_fork(busy=store.has_connection)


def _keep_forever(conn: sqlite3.Connection) -> None:
    """Make sure a connection inherited through fork is never closed, not even at interpreter exit."""
    _abandoned.append(conn)
    # Finalisation clears module globals, which would close it; an extra reference outlives that.
    import ctypes

    pythonapi = getattr(ctypes, "pythonapi", None)
    if pythonapi is not None:
        pythonapi.Py_IncRef(ctypes.py_object(conn))


def _install_fork_hooks() -> None:
    global _hooks_installed
    with _hooks_lock:
        if _hooks_installed or not hasattr(os, "register_at_fork"):
            return
        os.register_at_fork(
            before=_before_fork, after_in_parent=_after_fork_in_parent, after_in_child=_after_fork_in_child
        )
        _hooks_installed = True


class StoreConnection:
    """The connection of one store object in this process, and the lock that serialises its use.

    Attributes:
        path: The store file.
        timeout: Seconds to wait for another process's write lock.
        lock: Held for every statement and for a whole transaction, so threads never interleave.
        codec_name: The codec recorded in the store (known after the first open).
    """

    def __init__(self, path: str, *, timeout: float, durable: bool, codec: str | None) -> None:
        self.path = path
        self.timeout = timeout
        self.lock = threading.RLock()
        self._durable = durable
        self._conn: sqlite3.Connection | None = None
        self._pid = os.getpid()
        self._closed = False
        self._forked_busy = False
        self._conn, self.codec_name = connect(path, timeout=timeout, durable=durable, codec=codec)
        _install_fork_hooks()
        _live.add(self)

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def connection(self) -> sqlite3.Connection:
        """Return this process's connection, opening it if needed. Call with :attr:`lock` held.

        Raises:
            StoreClosedError: The store was closed.
        """
        if self._closed:
            raise StoreClosedError(f"{self.path}: the store is closed", path=self.path)
        if self._pid != os.getpid():
            # A fork the hooks did not see: best effort, the parent's connection is left alone.
            self.reset_after_fork(busy=False)
        if self._forked_busy:
            raise StoreClosedError(f"{self.path}: {_FORKED_BUSY}", path=self.path)
        conn = self._conn
        if conn is None:
            conn, _ = connect(self.path, timeout=self.timeout, durable=self._durable, codec=self.codec_name)
            self._conn = conn
        return conn

    def close_if_idle(self) -> None:
        """Close the connection unless a transaction is open on it (it re-opens on next use)."""
        if self._conn is not None and self._pid == os.getpid() and not self._conn.in_transaction:
            self._conn.close()
            self._conn = None

    @property
    def has_connection(self) -> bool:
        """Whether a connection is open (after the pre-fork close: whether it was busy)."""
        return self._conn is not None

    def reset_after_fork(self, *, busy: bool) -> None:
        """In a forked child: renew the lock and drop the parent's connection without touching it.

        Args:
            busy: The connection was in use at the fork; the store then refuses every use.
        """
        self.lock = threading.RLock()
        if self._conn is not None:
            _keep_forever(self._conn)
            self._conn = None
        self._forked_busy = busy
        self._pid = os.getpid()

    def close(self) -> None:
        """Close the connection; later use raises :class:`StoreClosedError`. Closing twice is fine."""
        with self.lock:
            if self._closed:
                return
            self._closed = True
            _live.discard(self)
            if self._conn is None:
                return
            if self._pid == os.getpid():
                self._conn.close()
            else:
                _keep_forever(self._conn)
            self._conn = None

    def run(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
        """Run one statement (atomic on its own) and return all its rows.

        Raises:
            LockTimeout: Another process held the write lock for longer than :attr:`timeout`.
            CorruptStoreError: The file is damaged.
            StoreClosedError: The store was closed.
        """
        with self.lock:
            conn = self.connection()
            try:
                # fetchall steps the statement to its end, which releases a RETURNING write's lock.
                return conn.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise translate_error(exc, self.path, self.timeout) from exc

    def run_counting(self, sql: str, params: tuple[object, ...] = ()) -> int:
        """Run one write statement (atomic on its own) and return how many rows it changed."""
        with self.lock:
            conn = self.connection()
            try:
                return conn.execute(sql, params).rowcount
            except sqlite3.Error as exc:
                raise translate_error(exc, self.path, self.timeout) from exc

    def run_many(self, sql: str, rows: list[tuple[object, ...]]) -> None:
        """Run one statement for each parameter tuple in ``rows`` (use inside :meth:`transaction`)."""
        with self.lock:
            conn = self.connection()
            try:
                conn.executemany(sql, rows)
            except sqlite3.Error as exc:
                raise translate_error(exc, self.path, self.timeout) from exc

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Hold the write lock for the block: ``BEGIN IMMEDIATE`` ... ``COMMIT``; any exception rolls back.

        A nested block (same thread) becomes a savepoint of the outer transaction: its exception
        undoes only its own writes, and nothing is visible to others before the outermost commit.

        Raises:
            LockTimeout: The write lock was not obtained within :attr:`timeout`.
            CorruptStoreError: The file is damaged.
        """
        with self.lock:
            conn = self.connection()
            if conn.in_transaction:
                with self._savepoint(conn):
                    yield
                return
            self._execute(conn, "BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._rollback(conn)
                raise
            try:
                self._execute(conn, "COMMIT")
            except SharedDataError:
                self._rollback(conn)
                raise

    @contextmanager
    def _savepoint(self, conn: sqlite3.Connection) -> Iterator[None]:
        name = f"stalwart_{next(_savepoint_ids)}"
        self._execute(conn, f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            self._execute(conn, f"ROLLBACK TO {name}")
            self._execute(conn, f"RELEASE {name}")
            raise
        self._execute(conn, f"RELEASE {name}")

    def _execute(self, conn: sqlite3.Connection, sql: str) -> None:
        if conn is not self._conn:
            # Forked (or closed) inside the block: committing the inherited connection in a child
            # would write the parent's pending transaction a second time.
            raise StoreClosedError(f"{self.path}: {_FORKED_BUSY}", path=self.path)
        try:
            conn.execute(sql)
        except sqlite3.Error as exc:
            raise translate_error(exc, self.path, self.timeout) from exc

    def _rollback(self, conn: sqlite3.Connection) -> None:
        # SQLite may already have rolled back on its own (e.g. after SQLITE_FULL); that is not an error.
        if conn is self._conn and conn.in_transaction:
            self._execute(conn, "ROLLBACK")
