"""``SharedStore``: a key-value store many processes and threads update without losing a write."""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final

from stalwart.shared_data._codec import CODEC_NAMES, get_codec
from stalwart.shared_data._connection import StoreConnection
from stalwart.shared_data._errors import (
    CorruptStoreError,
    InvalidKeyError,
    NotAnIntegerError,
    StoreClosedError,
)
from stalwart.shared_data._schema import FORMAT_VERSION

__all__ = ["SharedStore", "StoreStats", "TransactionView"]

_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1
# UPDATE ... RETURNING lets incr be a single statement: the write lock is held for microseconds.
_HAS_RETURNING: Final = sqlite3.sqlite_version_info >= (3, 35, 0)
_INCR_SQL: Final = (
    "UPDATE kv SET value = value + ? WHERE key = ? AND typeof(value) = 'integer' "
    "AND value BETWEEN ? AND ? RETURNING value"
)
_UPSERT_SQL: Final = "INSERT OR REPLACE INTO kv(key, value) VALUES (?, ?)"


@dataclass(frozen=True)
class StoreStats:
    """Facts about a store file, as ``stalwart store stats`` prints them.

    Attributes:
        path: The store file.
        codec: The codec values are written with.
        format_version: The store layout version.
        keys: Number of keys.
        file_bytes: Size of the main database file.
        wal_bytes: Size of the write-ahead log (``-wal`` file), 0 when absent.
        page_size: SQLite page size in bytes.
        page_count: Pages in the database.
        freelist_count: Unused pages (reclaimed by ``VACUUM``).
        journal_mode: SQLite journal mode (always ``"wal"`` for a store).
        durable: Whether this handle commits with ``synchronous=FULL`` (or stricter), read from SQLite.
        sqlite_version: The SQLite library version in use.
    """

    path: str
    codec: str
    format_version: int
    keys: int
    file_bytes: int
    wal_bytes: int
    page_size: int
    page_count: int
    freelist_count: int
    journal_mode: str
    durable: bool
    sqlite_version: str


def _reopen(path: str, codec: str, timeout: float, durable: bool) -> SharedStore:
    return SharedStore(path, codec=codec, timeout=timeout, durable=durable)


class SharedStore:
    """A key-value store in one SQLite file (WAL mode) that processes and threads share safely.

    Every single call is atomic; :meth:`incr`, :meth:`update` and :meth:`transaction` are atomic
    read-modify-writes across processes. A process killed at any point leaves the store readable,
    holding the last committed state, and its lock is released by the kernel at once.

    Args:
        path: The store file; created (with its directory's permission) if it does not exist.
        codec: ``"msgpack"`` (default), ``"json"`` or ``"pickle"`` (unsafe for a file others can
            write: loading a pickle runs code). ``None`` accepts whatever codec the existing store has.
        timeout: Seconds to wait for another process's write lock before :class:`LockTimeout`.
        durable: ``True`` commits with ``synchronous=FULL`` (a commit survives power loss);
            ``False`` uses ``NORMAL`` (a commit survives a process crash; the last commits may be
            lost on power loss or OS crash, the file is never damaged).

    Raises:
        ValueError: Unknown codec or a non-positive timeout.
        NotAStoreError: The file exists and is not a stalwart store.
        CorruptStoreError: The file is a damaged store.
        CodecMismatchError: The store was created with another codec.
        LockTimeout: The store was being created by another process for longer than ``timeout``.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        codec: str | None = "msgpack",
        timeout: float = 10.0,
        durable: bool = False,
    ) -> None:
        if codec is not None and codec not in CODEC_NAMES:
            raise ValueError(f"unknown codec {codec!r}; choose one of {', '.join(CODEC_NAMES)}")
        if not timeout > 0:
            raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
        self._path = os.fspath(path)
        self._timeout = float(timeout)
        self._durable = durable
        self._db = StoreConnection(self._path, timeout=self._timeout, durable=durable, codec=codec)
        self._codec = get_codec(self._db.codec_name)

    # --- identity -------------------------------------------------------------------------------
    @property
    def path(self) -> str:
        """The store file."""
        return self._path

    @property
    def codec(self) -> str:
        """The name of the codec values are written with."""
        return self._codec.name

    def __repr__(self) -> str:
        state = "closed" if self._db.closed else "open"
        return f"<SharedStore {self._path!r} codec={self.codec!r} {state}>"

    def __reduce__(self) -> tuple[Callable[..., SharedStore], tuple[str, str, float, bool]]:
        # A pickled store (e.g. sent to a "spawn" child) re-opens the same file there.
        return _reopen, (self._path, self.codec, self._timeout, self._durable)

    # --- cells: what one row's value column holds --------------------------------------------------
    def _check_key(self, key: object) -> str:
        if not isinstance(key, str):
            raise InvalidKeyError(
                f"{self._path}: keys must be str, not {type(key).__qualname__} ({key!r})", path=self._path
            )
        return key

    def _to_cell(self, key: str, value: Any) -> int | bytes:
        # Plain 64-bit ints are stored as SQLite integers so incr can add in SQL.
        if type(value) is int and _INT64_MIN <= value <= _INT64_MAX:
            return value
        return self._codec.encode(key, value)

    def _from_cell(self, key: str, cell: object) -> Any:
        if type(cell) is int:
            return cell
        if type(cell) is bytes:
            try:
                return self._codec.decode(cell)
            except ValueError as exc:
                raise CorruptStoreError(
                    f"{self._path}: the value of key {key!r} cannot be decoded "
                    f"by codec {self.codec!r}: {exc}",
                    path=self._path,
                    key=key,
                ) from exc
        raise CorruptStoreError(
            f"{self._path}: key {key!r} holds a {type(cell).__name__} cell, which this store never writes",
            path=self._path,
            key=key,
        )

    # --- single-key operations -------------------------------------------------------------------
    def get(self, key: str, default: Any = None) -> Any:
        """Return the value stored under ``key``, or ``default`` if there is none.

        Args:
            key: The key.
            default: Returned when ``key`` is absent.

        Returns:
            The stored value or ``default``.

        Raises:
            InvalidKeyError: ``key`` is not a str.
            CorruptStoreError: The stored value cannot be decoded.
        """
        rows = self._db.run("SELECT value FROM kv WHERE key = ?", (self._check_key(key),))
        return self._from_cell(key, rows[0][0]) if rows else default

    def __getitem__(self, key: str) -> Any:
        """Return the value under ``key``; raise ``KeyError`` if absent."""
        rows = self._db.run("SELECT value FROM kv WHERE key = ?", (self._check_key(key),))
        if not rows:
            raise KeyError(key)
        return self._from_cell(key, rows[0][0])

    def set(self, key: str, value: Any) -> None:
        """Store ``value`` under ``key`` (atomic; replaces any previous value).

        Args:
            key: The key.
            value: A value the store's codec supports.

        Raises:
            InvalidKeyError: ``key`` is not a str.
            UnsupportedValueError: The codec cannot encode ``value``; nothing was written.
            LockTimeout: Another process held the write lock longer than ``timeout``.
        """
        cell = self._to_cell(self._check_key(key), value)
        self._db.run(_UPSERT_SQL, (key, cell))

    def __setitem__(self, key: str, value: Any) -> None:
        """Store ``value`` under ``key``, like :meth:`set`."""
        self.set(key, value)

    def delete(self, key: str) -> bool:
        """Remove ``key``.

        Args:
            key: The key.

        Returns:
            ``True`` if the key existed, ``False`` if there was nothing to remove.

        Raises:
            InvalidKeyError: ``key`` is not a str.
            LockTimeout: Another process held the write lock longer than ``timeout``.
        """
        return self._db.run_counting("DELETE FROM kv WHERE key = ?", (self._check_key(key),)) > 0

    def __delitem__(self, key: str) -> None:
        """Remove ``key``; raise ``KeyError`` if absent."""
        if not self.delete(key):
            raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        """Whether ``key`` is stored (a non-str key never is)."""
        if not isinstance(key, str):
            return False
        return bool(self._db.run("SELECT 1 FROM kv WHERE key = ?", (key,)))

    def incr(self, key: str, delta: int = 1) -> int:
        """Atomically add ``delta`` to the integer under ``key`` (absent counts as 0).

        Args:
            key: The key.
            delta: The int to add (may be negative).

        Returns:
            The new value.

        Raises:
            NotAnIntegerError: ``delta`` or the stored value is not an int.
            UnsupportedValueError: The result does not fit the codec (beyond 64 bits for msgpack).
            LockTimeout: Another process held the write lock longer than ``timeout``.
        """
        self._check_key(key)
        if type(delta) is not int:
            raise NotAnIntegerError(
                f"{self._path}: incr of key {key!r} needs an int delta, not {type(delta).__qualname__}",
                path=self._path,
            )
        # A delta beyond 64 bits cannot be bound as an SQLite integer (raw OverflowError).
        if _HAS_RETURNING and _INT64_MIN <= delta <= _INT64_MAX:
            bounds = (_INT64_MIN - min(delta, 0), _INT64_MAX - max(delta, 0))
            if bounds[0] <= bounds[1]:
                rows = self._db.run(_INCR_SQL, (delta, key, *bounds))
                if rows:
                    return int(rows[0][0])
        # Absent key, a value or delta beyond 64 bits, or an old SQLite: read-modify-write under
        # the lock; the codec refuses a result it cannot store (UnsupportedValueError).
        with self._db.transaction():
            current = self.get(key, 0)
            if type(current) is not int:
                raise NotAnIntegerError(
                    f"{self._path}: cannot incr key {key!r}: "
                    f"it holds a {type(current).__qualname__}, not an int",
                    path=self._path,
                )
            new: int = current + delta
            self._db.run(_UPSERT_SQL, (key, self._to_cell(key, new)))
        return new

    def update(self, key: str, fn: Callable[[Any], Any], default: Any = None) -> Any:
        """Atomically replace the value under ``key`` with ``fn(value)``.

        The write lock is held while ``fn`` runs, so keep ``fn`` quick; if it raises, nothing changes.

        Args:
            key: The key.
            fn: Called with the current value (or ``default`` when absent); returns the new value.
            default: What ``fn`` gets when ``key`` is absent.

        Returns:
            The new value.

        Raises:
            UnsupportedValueError: The codec cannot encode ``fn``'s result; nothing was written.
            LockTimeout: Another process held the write lock longer than ``timeout``.
        """
        self._check_key(key)
        with self._db.transaction():
            new = fn(self.get(key, default))
            self._db.run(_UPSERT_SQL, (key, self._to_cell(key, new)))
        return new

    # --- whole-store operations ------------------------------------------------------------------
    def keys(self) -> list[str]:
        """Return every key, sorted (a snapshot, not a live view)."""
        return [str(row[0]) for row in self._db.run("SELECT key FROM kv ORDER BY key")]

    def items(self) -> list[tuple[str, Any]]:
        """Return every ``(key, value)`` pair, sorted by key, from one consistent snapshot.

        Raises:
            CorruptStoreError: A stored value cannot be decoded.
        """
        rows = self._db.run("SELECT key, value FROM kv ORDER BY key")
        return [(str(key), self._from_cell(str(key), cell)) for key, cell in rows]

    def __iter__(self) -> Iterator[str]:
        """Iterate over a snapshot of the keys."""
        return iter(self.keys())

    def __len__(self) -> int:
        """Return the number of keys."""
        return int(self._db.run("SELECT count(*) FROM kv")[0][0])

    def clear(self) -> None:
        """Remove every key (atomic).

        Raises:
            LockTimeout: Another process held the write lock longer than ``timeout``.
        """
        self._db.run("DELETE FROM kv")

    def load(self, default: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Return the whole store as a dict (one consistent snapshot).

        Args:
            default: Returned (as a new dict) when the store holds no keys.

        Returns:
            Every key and value; never an empty dict in place of a damaged store.

        Raises:
            CorruptStoreError: The file or a stored value is damaged.
        """
        loaded = dict(self.items())
        if not loaded and default is not None:
            return dict(default)
        return loaded

    def save(self, mapping: Mapping[str, Any]) -> None:
        """Replace the whole store with ``mapping`` atomically: others see the old or the new document.

        Every value is encoded before anything is written.

        Args:
            mapping: The new document.

        Raises:
            TypeError: ``mapping`` is not a mapping.
            InvalidKeyError: A key is not a str.
            UnsupportedValueError: A value cannot be encoded; nothing was written.
            LockTimeout: Another process held the write lock longer than ``timeout``.
        """
        if not isinstance(mapping, Mapping):
            raise TypeError(f"save() needs a mapping, not {type(mapping).__qualname__}")
        rows: list[tuple[object, ...]] = [
            (key, self._to_cell(self._check_key(key), value)) for key, value in mapping.items()
        ]
        with self._db.transaction():
            self._db.run("DELETE FROM kv")
            self._db.run_many("INSERT INTO kv(key, value) VALUES (?, ?)", rows)

    @contextmanager
    def transaction(self) -> Iterator[TransactionView]:
        """Hold the store's write lock for a block; every read and write inside is one atomic transaction.

        Other processes wait (up to their ``timeout``) to write, and keep reading the state before the
        block until it commits. An exception leaving the block rolls everything back. Other threads of
        this process wait for the block to end. A nested block is a savepoint of the outer one.

        Yields:
            A dict-like view of the store, valid only inside the block and in this thread.

        Raises:
            LockTimeout: The write lock was not obtained within ``timeout``.
        """
        with self._db.transaction():
            view = TransactionView(self)
            try:
                yield view
            finally:
                view._active = False

    def stats(self) -> StoreStats:
        """Return facts about the store file (size, keys, codec, SQLite settings).

        Raises:
            StoreClosedError: The store was closed.
        """

        def pragma(name: str) -> Any:
            return self._db.run(f"PRAGMA {name}")[0][0]

        wal = f"{self._path}-wal"
        return StoreStats(
            path=self._path,
            codec=self.codec,
            format_version=FORMAT_VERSION,
            keys=len(self),
            file_bytes=os.path.getsize(self._path),
            wal_bytes=os.path.getsize(wal) if os.path.exists(wal) else 0,
            page_size=int(pragma("page_size")),
            page_count=int(pragma("page_count")),
            freelist_count=int(pragma("freelist_count")),
            journal_mode=str(pragma("journal_mode")),
            # Read back from SQLite rather than echoing the flag: this is what commits really do.
            durable=int(pragma("synchronous")) >= 2,
            sqlite_version=sqlite3.sqlite_version,
        )

    # --- lifetime --------------------------------------------------------------------------------
    def close(self) -> None:
        """Close the store; later calls raise :class:`StoreClosedError`. Closing twice is fine."""
        self._db.close()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._db.closed

    def __enter__(self) -> SharedStore:
        """Return the store; the ``with`` block closes it."""
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Close the store."""
        self.close()


class TransactionView(MutableMapping[str, Any]):
    """The dict-like view :meth:`SharedStore.transaction` yields: its reads and writes are one transaction.

    Besides the mapping methods it has :meth:`set`, :meth:`delete` and :meth:`incr`. Using it after its
    block ended, or from another thread, raises :class:`StoreClosedError`.
    """

    def __init__(self, store: SharedStore) -> None:
        self._store = store
        self._owner = threading.get_ident()
        self._active = True

    def _live(self) -> SharedStore:
        if not self._active or threading.get_ident() != self._owner:
            raise StoreClosedError(
                f"{self._store.path}: this transaction view is only valid inside its block, in its thread",
                path=self._store.path,
            )
        return self._store

    def __getitem__(self, key: str) -> Any:
        """Return the value under ``key``; raise ``KeyError`` if absent."""
        return self._live()[key]

    def get(self, key: str, default: Any = None) -> Any:
        """Return the value under ``key``, or ``default``."""
        return self._live().get(key, default)

    def __setitem__(self, key: str, value: Any) -> None:
        """Store ``value`` under ``key`` within the transaction."""
        self._live().set(key, value)

    def set(self, key: str, value: Any) -> None:
        """Store ``value`` under ``key`` within the transaction."""
        self._live().set(key, value)

    def __delitem__(self, key: str) -> None:
        """Remove ``key``; raise ``KeyError`` if absent."""
        del self._live()[key]

    def delete(self, key: str) -> bool:
        """Remove ``key``; return whether it existed."""
        return self._live().delete(key)

    def incr(self, key: str, delta: int = 1) -> int:
        """Add ``delta`` to the int under ``key`` within the transaction; return the new value."""
        return self._live().incr(key, delta)

    def __contains__(self, key: object) -> bool:
        """Whether ``key`` is stored."""
        return key in self._live()

    def __iter__(self) -> Iterator[str]:
        """Iterate over the keys as of now within the transaction."""
        return iter(self._live().keys())

    def __len__(self) -> int:
        """Return the number of keys."""
        return len(self._live())
