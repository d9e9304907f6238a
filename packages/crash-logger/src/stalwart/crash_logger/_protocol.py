"""Length-prefixed frames on the pipe between the logging process and the writer.

A frame is ``<u32 payload length><u8 type>`` followed by the payload. Record
frames carry a core msgpack batch (:func:`stalwart.core.encode_batch`); the
shutdown frame carries a UTF-8 reason and tells the writer the end is clean.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from stalwart.core import Record, encode_batch
from stalwart.crash_logger._errors import CrashLoggerError

__all__ = ["RECORDS", "SHUTDOWN", "FrameError", "FrameReader", "records_frame", "shutdown_frame"]

HEADER = struct.Struct("<IB")
RECORDS = 0
SHUTDOWN = 1
_TYPES = frozenset({RECORDS, SHUTDOWN})
# A frame larger than this means the stream is out of step, not a real record.
MAX_PAYLOAD = 256 * 1024 * 1024


class FrameError(CrashLoggerError):
    """The byte stream on the pipe is not a sequence of valid frames."""


def records_frame(records: Sequence[Record]) -> bytes:
    """Return the frame carrying ``records``."""
    payload = encode_batch(list(records))
    return HEADER.pack(len(payload), RECORDS) + payload


def shutdown_frame(reason: str) -> bytes:
    """Return the frame announcing a clean shutdown for ``reason``."""
    payload = reason.encode("utf-8", "replace")
    return HEADER.pack(len(payload), SHUTDOWN) + payload


class FrameReader:
    """Split a byte stream, fed in arbitrary chunks, into ``(type, payload)`` frames."""

    def __init__(self) -> None:
        """Start with an empty buffer."""
        self._buffer = bytearray()

    @property
    def pending(self) -> int:
        """Bytes received that do not yet form a whole frame."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        """Add ``data`` and return every frame it completes, in order.

        Raises:
            FrameError: If a header names an unknown type or an impossible size;
                the reader is then out of step and should not be fed further.
        """
        buffer = self._buffer
        buffer += data
        frames: list[tuple[int, bytes]] = []
        start = 0
        end = len(buffer)
        header_size = HEADER.size
        while end - start >= header_size:
            size, kind = HEADER.unpack_from(buffer, start)
            if kind not in _TYPES or size > MAX_PAYLOAD:
                raise FrameError(f"bad frame header at stream byte offset {start}: type={kind} size={size}")
            stop = start + header_size + size
            if stop > end:
                break
            frames.append((kind, bytes(buffer[start + header_size : stop])))
            start = stop
        if start:
            del buffer[:start]
        return frames
