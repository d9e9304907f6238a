"""Typed reads: decoding JSON straight into a schema with cached msgspec decoders."""

from __future__ import annotations

import functools
import os
from typing import Any

import msgspec
from stalwart.fallbacks._errors import SchemaError
from stalwart.fallbacks._readfile import decode_json_bytes, gc_paused
from stalwart.fallbacks._tagged import MARKER_BYTES

__all__ = ["SCHEMA_DECODER_CACHE_SIZE", "clear_decoders", "convert_to", "decode_typed", "decoders_cached"]

#: How many schemas keep a ready decoder; the least recently used one is dropped first.
SCHEMA_DECODER_CACHE_SIZE = 64


@functools.lru_cache(maxsize=SCHEMA_DECODER_CACHE_SIZE)
def _cached_decoder(schema: Any) -> msgspec.json.Decoder[Any]:
    # Keyed by the type object: ``list[Row]`` written twice gives two equal, equally
    # hashed aliases, so both hit one entry. Building a decoder costs far more than a lookup.
    return msgspec.json.Decoder(schema)


def _decoder_for(schema: Any) -> msgspec.json.Decoder[Any]:
    try:
        hash(schema)
    except TypeError:
        # e.g. Annotated[...] with unhashable metadata: usable, just not cacheable.
        return msgspec.json.Decoder(schema)
    return _cached_decoder(schema)


def decoders_cached() -> int:
    """Return how many schema decoders are cached."""
    return _cached_decoder.cache_info().currsize


def clear_decoders() -> int:
    """Drop every cached schema decoder; return how many there were."""
    size = decoders_cached()
    _cached_decoder.cache_clear()
    return size


def convert_to(data: Any, schema: Any, path: str | os.PathLike[str]) -> Any:
    """Validate already decoded ``data`` (tags restored) against ``schema`` with ``msgspec.convert``.

    Raises:
        SchemaError: ``data`` does not match ``schema``.

    """
    try:
        with gc_paused():
            return msgspec.convert(data, schema)
    except msgspec.ValidationError as exc:
        raise SchemaError(path, str(exc)) from exc


def decode_typed(raw: bytes, path: str | os.PathLike[str], schema: Any) -> Any:
    """Decode the JSON document ``raw`` read from ``path`` into ``schema``.

    A document holding tagged values (``{"$stalwart": ...}``) is decoded untyped,
    its tags restored (bytes, datetimes, sets ...), then converted: slower, but a
    ``bytes`` or ``datetime`` field reads what ``write_json`` wrote.

    Raises:
        CorruptFileError: Not valid JSON, whatever the schema says.
        SchemaError: Valid JSON that does not match ``schema``.
        TypeError: msgspec does not support ``schema`` as a type.

    """
    if MARKER_BYTES in raw:
        return convert_to(decode_json_bytes(raw, path), schema, path)
    decoder = _decoder_for(schema)
    try:
        with gc_paused():
            return decoder.decode(raw)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
        # msgspec validates while it parses, so a mismatch before the damage would hide
        # it: a file is blamed on the schema only once an untyped parse accepts it.
        decode_json_bytes(raw, path, restore_types=False)  # raises CorruptFileError
        raise SchemaError(path, str(exc)) from exc
