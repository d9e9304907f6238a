"""Reading a whole file's bytes with typed errors, and decoding JSON quickly."""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO

import msgspec
from stalwart.fallbacks import _stats
from stalwart.fallbacks._errors import CorruptFileError, ReadError
from stalwart.fallbacks._tagged import MARKER_BYTES, TagError, decode_types
from stalwart.fallbacks._validate import NESTED_TOO_DEEPLY, json_error_offset, strict_json_loads

__all__ = ["decode_json_bytes", "gc_paused", "open_for_reading", "read_bytes"]

_DECODER = msgspec.json.Decoder()


def open_for_reading(path: str | os.PathLike[str]) -> BinaryIO:
    """Open ``path`` for binary reading.

    Raises:
        ReadError: The file is missing or unreadable (counted as a read failure).

    """
    try:
        return open(path, "rb")
    except OSError as exc:
        _stats.count("read_failures")
        raise ReadError(path, exc.strerror or str(exc)) from exc


def read_bytes(path: str | os.PathLike[str]) -> bytes:
    """Return the content of ``path``.

    Raises:
        ReadError: The file is missing or unreadable.

    """
    with open_for_reading(path) as handle:
        try:
            raw = handle.read()
        except OSError as exc:
            _stats.count("read_failures")
            raise ReadError(path, exc.strerror or str(exc)) from exc
    _stats.count("bytes_read", len(raw))
    return raw


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building a large acyclic structure.

    Decoded JSON holds no reference cycles, yet each new dict/list counts towards
    a collection: on 100k records the collector's passes cost more than the
    decoding itself. Left alone if the application disabled the GC itself.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def decode_json_bytes(raw: bytes, path: str | os.PathLike[str], *, restore_types: bool = True) -> Any:
    """Decode one JSON document read from ``path``.

    Raises:
        CorruptFileError: Not valid JSON (``offset`` points at the fault), nested too
            deeply to decode, or a malformed tagged value.

    """
    try:
        with gc_paused():
            data = _DECODER.decode(raw)
    except RecursionError as exc:
        raise CorruptFileError(path, NESTED_TOO_DEEPLY) from exc
    except msgspec.DecodeError as exc:
        # msgspec refuses some valid JSON (an escaped lone surrogate such as "\udce9",
        # as stdlib json.dumps writes for a surrogateescape'd file name): ask the stdlib.
        try:
            with gc_paused():
                data = strict_json_loads(raw)
        except (ValueError, RecursionError):
            message = str(exc)
            raise CorruptFileError(path, message, offset=json_error_offset(message, len(raw))) from exc
    except UnicodeDecodeError as exc:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as located:
            raise CorruptFileError(path, f"invalid UTF-8: {located.reason}", offset=located.start) from exc
        raise CorruptFileError(path, f"invalid UTF-8: {exc.reason}") from exc
    if restore_types and MARKER_BYTES in raw:
        try:
            data = decode_types(data)
        except TagError as exc:
            raise CorruptFileError(path, str(exc)) from exc
    return data
