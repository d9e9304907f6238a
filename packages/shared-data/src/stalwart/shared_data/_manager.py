"""``CrossPlatformDataManager``: the seed's whole-document API, on a :class:`SharedStore`.

Code written against the seed's pickle-file manager runs unchanged after
changing its import. Unlike the seed, a killed process never leaves a lock
behind, a reader never sees a half-written document, a damaged file raises
instead of reading as ``{}``, and the file holds data, not code.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import Any

from stalwart.shared_data._store import SharedStore

__all__ = ["CrossPlatformDataManager"]


class CrossPlatformDataManager:
    """The seed's ``save_data`` / ``load_data`` manager, stored in a :class:`SharedStore`.

    The store is opened on first use, so creating a manager at module import does no file work.
    ``load_data()`` then ``save_data()`` is two steps: another process may write in between. For a
    read-modify-write that loses nothing, use :attr:`store`'s ``transaction()``, ``update()`` or ``incr()``.

    Args:
        filename: The store file (any name; the seed's ``.pkl`` suffix works, the content is SQLite).
        codec: The store codec (``"msgpack"`` by default; ``"pickle"`` only for files no one else can write).
        timeout: Seconds to wait for another process's write lock.
    """

    def __init__(
        self,
        filename: str | os.PathLike[str] = "shared_stats.pkl",
        *,
        codec: str = "msgpack",
        timeout: float = 10.0,
    ) -> None:
        self.filename = os.fspath(filename)
        self._codec = codec
        self._timeout = timeout
        self._store: SharedStore | None = None
        self._open_lock = threading.Lock()

    @property
    def store(self) -> SharedStore:
        """The underlying store, opened on first access.

        Raises:
            NotAStoreError: ``filename`` exists and is not a stalwart store (e.g. an old seed pickle).
            CorruptStoreError: ``filename`` is a damaged store.
        """
        with self._open_lock:
            if self._store is None:
                self._store = SharedStore(self.filename, codec=self._codec, timeout=self._timeout)
            return self._store

    def save_data(self, data: Mapping[str, Any]) -> None:
        """Replace the whole document with ``data`` atomically.

        Args:
            data: The document (str keys).

        Raises:
            UnsupportedValueError: A value cannot be encoded; nothing was written.
            LockTimeout: Another process held the write lock longer than ``timeout``.
        """
        self.store.save(data)

    def load_data(self, default: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Return the whole document, or a copy of ``default`` (else ``{}``) when it is empty.

        Args:
            default: Returned when the store holds no keys.

        Returns:
            The document.

        Raises:
            CorruptStoreError: The file is damaged (never reported as an empty document).
        """
        return self.store.load(default)

    def close(self) -> None:
        """Close the store if it was opened; the next use re-opens it."""
        with self._open_lock:
            if self._store is not None:
                self._store.close()
                self._store = None
