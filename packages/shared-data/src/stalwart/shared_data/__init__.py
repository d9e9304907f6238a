"""stalwart-shared-data: a locked data store many processes update without losing a write.

One SQLite file in WAL mode; every call is atomic across processes and threads, a killed
process never blocks the others, and the file always holds the last committed state.

Example:
    >>> import tempfile, os
    >>> from stalwart.shared_data import SharedStore
    >>> path = os.path.join(tempfile.mkdtemp(), "stats.db")
    >>> with SharedStore(path) as store:
    ...     store.incr("runs")
    ...     with store.transaction() as tx:
    ...         tx["last"] = {"ok": True, "runs": tx["runs"]}
    ...     store.load()
    1
    {'last': {'ok': True, 'runs': 1}, 'runs': 1}
"""

from __future__ import annotations

from stalwart.shared_data.__about__ import __version__
from stalwart.shared_data._codec import CODEC_NAMES
from stalwart.shared_data._errors import (
    CodecMismatchError,
    CorruptStoreError,
    InvalidKeyError,
    LockTimeout,
    NotAnIntegerError,
    NotAStoreError,
    SharedDataError,
    StoreClosedError,
    UnsupportedValueError,
)
from stalwart.shared_data._manager import CrossPlatformDataManager
from stalwart.shared_data._store import SharedStore, StoreStats, TransactionView

__all__ = [
    "CODEC_NAMES",
    "CodecMismatchError",
    "CorruptStoreError",
    "CrossPlatformDataManager",
    "InvalidKeyError",
    "LockTimeout",
    "NotAStoreError",
    "NotAnIntegerError",
    "SharedDataError",
    "SharedStore",
    "StoreClosedError",
    "StoreStats",
    "TransactionView",
    "UnsupportedValueError",
    "__version__",
]
