"""The exception hierarchy every stalwart package raises from."""

from __future__ import annotations

import re

__all__ = ["RecordDecodeError", "RecordEncodeError", "StalwartError"]

_BYTE_POSITION = re.compile(r"\(byte (\d+)\)")


class StalwartError(Exception):
    """Base class of every error raised by a stalwart package."""


class RecordDecodeError(StalwartError, ValueError):
    """Bytes could not be decoded into records: truncated, garbage or wrong schema.

    Attributes:
        reason: What was wrong, in the decoder's words.
        offset: Byte offset in the input where the problem was found, when known.
        index: Index of the record (or line number, for JSON Lines) at fault, when known.
    """

    def __init__(self, reason: str, *, offset: int | None = None, index: int | None = None) -> None:
        self.reason = reason
        self.offset = offset
        self.index = index
        where = []
        if index is not None:
            where.append(f"record {index}")
        if offset is not None:
            where.append(f"byte {offset}")
        suffix = f" (at {', '.join(where)})" if where else ""
        super().__init__(f"cannot decode records: {reason}{suffix}")


class RecordEncodeError(StalwartError, ValueError):
    """A record holds a value no codec can carry, even after the text fallback.

    Raised only for records built by hand with out-of-range numbers (e.g. a
    ``ts_ns`` beyond 64 bits); text and ``extra`` values are always made
    encodable first (see :func:`~stalwart.core.encodable`).
    """


def byte_offset_from_message(message: str) -> int | None:
    """Return the ``(byte N)`` position msgspec puts in its error messages, if any."""
    match = _BYTE_POSITION.search(message)
    return int(match.group(1)) if match else None
