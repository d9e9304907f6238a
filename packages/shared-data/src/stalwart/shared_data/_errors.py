"""The errors a shared-data store raises; each names the store file and, where known, the key."""

from __future__ import annotations

import os

from stalwart.core import StalwartError

__all__ = [
    "CodecMismatchError",
    "CorruptStoreError",
    "InvalidKeyError",
    "LockTimeout",
    "NotAStoreError",
    "NotAnIntegerError",
    "SharedDataError",
    "StoreClosedError",
    "UnsupportedValueError",
]


class SharedDataError(StalwartError):
    """Base class of every error raised by :mod:`stalwart.shared_data`.

    Attributes:
        path: The store file at fault, when there is one.
    """

    def __init__(self, message: str, *, path: str | os.PathLike[str] | None = None) -> None:
        self.path = os.fspath(path) if path is not None else None
        super().__init__(message)


class LockTimeout(SharedDataError, TimeoutError):
    """The store's write lock was not obtained within the store's ``timeout``.

    Attributes:
        timeout: The number of seconds waited.
    """

    def __init__(self, path: str | os.PathLike[str], timeout: float) -> None:
        self.timeout = timeout
        super().__init__(
            f"{os.fspath(path)}: could not lock the store within {timeout:g} s "
            "(another process holds a long write transaction)",
            path=path,
        )


class UnsupportedValueError(SharedDataError, TypeError):
    """A value the store's codec cannot encode faithfully; nothing was written.

    Attributes:
        key: The key the value was meant for.
        where: Where inside the value the bad part sits (``"['a'][2]"``; empty for the value itself).
        value_type: The name of the type at fault.
        codec: The codec's name.
    """

    def __init__(
        self,
        *,
        key: str,
        where: str,
        value_type: str,
        codec: str,
        reason: str,
        path: str | os.PathLike[str] | None = None,
    ) -> None:
        self.key = key
        self.where = where
        self.value_type = value_type
        self.codec = codec
        location = f"key {key!r}" + (f" at {where}" if where else "")
        super().__init__(
            f"cannot store {location}: {value_type} {reason} (codec {codec!r}); nothing was written",
            path=path,
        )


class InvalidKeyError(SharedDataError, TypeError):
    """A key that is not a ``str``."""


class NotAnIntegerError(SharedDataError, TypeError):
    """``incr`` met a stored value, or was given a delta, that is not an ``int``."""


class NotAStoreError(SharedDataError, ValueError):
    """The file exists but is not a stalwart store (random bytes, another SQLite database, a newer format)."""


class CorruptStoreError(SharedDataError):
    """The file is a stalwart store whose contents are damaged.

    Attributes:
        key: The key whose stored value could not be decoded, when the damage is in one value.
    """

    def __init__(
        self, message: str, *, path: str | os.PathLike[str] | None = None, key: str | None = None
    ) -> None:
        self.key = key
        super().__init__(message, path=path)


class CodecMismatchError(SharedDataError, ValueError):
    """The store was created with a different codec than the one asked for.

    Attributes:
        stored: The codec recorded in the store.
        requested: The codec the caller asked for.
    """

    def __init__(self, path: str | os.PathLike[str], *, stored: str, requested: str) -> None:
        self.stored = stored
        self.requested = requested
        super().__init__(
            f"{os.fspath(path)}: the store was created with codec {stored!r}, not {requested!r}; "
            f"open it with codec={stored!r}",
            path=path,
        )


class StoreClosedError(SharedDataError, ValueError):
    """An operation on a store that was closed, or on a transaction view after its block ended."""
