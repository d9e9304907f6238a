"""What makes a SQLite file a stalwart store: opening, recognising and initialising one.

A store is an SQLite database in WAL mode whose header carries our
``application_id`` and whose ``stalwart_meta`` table names the format, its
version and the codec the values are written with. That marking is what lets
us tell "not a store" (random bytes, someone else's database) from "a store
that is damaged".
"""

from __future__ import annotations

import os
import sqlite3
import time
from typing import Final

from stalwart.shared_data._errors import (
    CodecMismatchError,
    CorruptStoreError,
    LockTimeout,
    NotAStoreError,
    SharedDataError,
)

__all__ = ["APPLICATION_ID", "FORMAT_NAME", "FORMAT_VERSION", "connect", "translate_error"]

#: ``PRAGMA application_id`` of every store: the ASCII bytes ``STLW``.
APPLICATION_ID: Final = 0x53544C57
#: The ``format`` row of ``stalwart_meta``.
FORMAT_NAME: Final = "stalwart-shared-data"
#: The newest layout this code reads and writes.
FORMAT_VERSION: Final = 1

_SQLITE_MAGIC: Final = b"SQLite format 3\x00"
# Error codes (sqlite3 exposes them as constants only from Python 3.11).
_SQLITE_BUSY: Final = 5
_SQLITE_LOCKED: Final = 6
_SQLITE_CORRUPT: Final = 11
_SQLITE_NOTADB: Final = 26

_SCHEMA: Final = (
    "CREATE TABLE stalwart_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID",
    # No declared type on `value`: integers stay INTEGER (so incr is one UPDATE), encoded values stay BLOB.
    "CREATE TABLE kv (key TEXT PRIMARY KEY, value NOT NULL) WITHOUT ROWID",
)


def translate_error(exc: sqlite3.Error, path: str, timeout: float) -> SharedDataError:
    """Return our error for an sqlite3 error met while using the store at ``path``.

    Args:
        exc: The error sqlite3 raised.
        path: The store file.
        timeout: The store's lock timeout, reported by :class:`LockTimeout`.

    Returns:
        :class:`LockTimeout` for a busy database, :class:`CorruptStoreError` for a damaged
        file, else a :class:`SharedDataError` naming the file.
    """
    code = getattr(exc, "sqlite_errorcode", None)
    base = None if code is None else code & 0xFF
    message = str(exc)
    if base in (_SQLITE_BUSY, _SQLITE_LOCKED) or (base is None and "locked" in message):
        return LockTimeout(path, timeout)
    if base in (_SQLITE_CORRUPT, _SQLITE_NOTADB) or "malformed" in message or "not a database" in message:
        return CorruptStoreError(f"{path}: the store is damaged: {message}", path=path)
    return SharedDataError(f"{path}: {message}", path=path)


def _check_header(path: str) -> None:
    """Refuse a file that exists and is not SQLite, before SQLite touches it."""
    if os.path.isdir(path):
        raise NotAStoreError(f"{path} is a directory, not a stalwart store", path=path)
    try:
        with open(path, "rb") as file:
            header = file.read(len(_SQLITE_MAGIC))
    except FileNotFoundError:
        return
    except OSError as exc:
        raise SharedDataError(f"{path}: cannot read the store: {exc}", path=path) from exc
    if header and header != _SQLITE_MAGIC:
        raise NotAStoreError(f"{path} is not a stalwart store (not an SQLite file)", path=path)


def _initialise(conn: sqlite3.Connection, codec: str, path: str) -> None:
    """Turn an empty database into a store; a racing process may win, which is fine.

    The emptiness check and the creation happen under one write lock: two
    separate reads could see "no application id" from before and "tables"
    from after another process created the store, and call it foreign.

    Raises:
        NotAStoreError: The database has tables but no stalwart application id.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        if app_id == 0:
            if conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] > 0:
                raise NotAStoreError(f"{path} is an SQLite database but not a stalwart store", path=path)
            for statement in _SCHEMA:
                conn.execute(statement)
            conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
            conn.executemany(
                "INSERT INTO stalwart_meta(name, value) VALUES (?, ?)",
                [("format", FORMAT_NAME), ("version", str(FORMAT_VERSION)), ("codec", codec)],
            )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _enable_wal(conn: sqlite3.Connection, timeout: float) -> None:
    """Switch a new store to WAL, retrying while other processes hold it open.

    SQLite answers ``database is locked`` to a journal-mode change at once,
    without calling the busy handler, when other connections are reading the
    file (as they are while several processes open a brand-new store), so the
    wait up to ``timeout`` is done here.
    """
    deadline = time.monotonic() + timeout
    delay = 0.001
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def _read_meta(conn: sqlite3.Connection, path: str) -> dict[str, str]:
    try:
        rows = conn.execute("SELECT name, value FROM stalwart_meta").fetchall()
    except sqlite3.OperationalError as exc:
        raise CorruptStoreError(f"{path}: the store's meta table is missing: {exc}", path=path) from exc
    meta = {str(name): str(value) for name, value in rows}
    if meta.get("format") != FORMAT_NAME or not meta.get("version", "").isdigit() or "codec" not in meta:
        raise CorruptStoreError(f"{path}: the store's meta table is damaged: {meta!r}", path=path)
    if int(meta["version"]) > FORMAT_VERSION:
        raise NotAStoreError(
            f"{path}: store format version {meta['version']} is newer than this library's {FORMAT_VERSION}",
            path=path,
        )
    return meta


def connect(path: str, *, timeout: float, durable: bool, codec: str | None) -> tuple[sqlite3.Connection, str]:
    """Open (creating if needed) the store at ``path`` and return a connection and the store's codec.

    Args:
        path: The store file.
        timeout: Seconds to wait for another process's write lock.
        durable: ``synchronous=FULL`` (survives power loss) instead of ``NORMAL`` (survives a process crash).
        codec: The codec the caller expects (and a new store is created with), or ``None`` to
            accept the store's own (``"msgpack"`` for a new store).

    Returns:
        An autocommit-mode connection usable from any thread (callers serialise access), and the codec name.

    Raises:
        NotAStoreError: The file is not a stalwart store.
        CorruptStoreError: The file is a damaged store.
        CodecMismatchError: The store was created with another codec.
        LockTimeout: Another process held the lock while the store was being created.
        SharedDataError: The file cannot be opened (permissions, missing directory, ...).
    """
    _check_header(path)
    try:
        conn = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as exc:
        raise translate_error(exc, path, timeout) from exc
    try:
        conn.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        if app_id == 0:
            _initialise(conn, codec if codec is not None else "msgpack", path)
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        if app_id != APPLICATION_ID:
            raise NotAStoreError(
                f"{path} is an SQLite database of another application (application_id {app_id:#x})", path=path
            )
        meta = _read_meta(conn, path)
        if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            _enable_wal(conn, timeout)
        codec_name = meta["codec"]
        if codec is not None and codec != codec_name:
            raise CodecMismatchError(path, stored=codec_name, requested=codec)
    except sqlite3.Error as exc:
        conn.close()
        raise translate_error(exc, path, timeout) from exc
    except BaseException:
        conn.close()
        raise
    return conn, codec_name
