"""Batch codecs: msgpack for the wire, JSON Lines for files."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import msgspec
from stalwart.core._errors import RecordDecodeError, byte_offset_from_message
from stalwart.core._record import JSON_DECODER, JSON_ENCODER, Record, encode_records

__all__ = ["decode_batch", "decode_jsonl", "encode_batch", "encode_jsonl", "iter_jsonl"]

_MSGPACK_ENCODER = msgspec.msgpack.Encoder()
_BATCH_DECODER = msgspec.msgpack.Decoder(list[Record])
_RAW_BATCH_DECODER = msgspec.msgpack.Decoder(list[msgspec.Raw])
_RECORD_DECODER = msgspec.msgpack.Decoder(Record)


def encode_batch(records: Iterable[Record]) -> bytes:
    """Encode records as one msgpack array, the wire format between processes.

    Text with lone surrogates and ``extra`` values that are not JSON-able
    (possible in records built by hand) are written as escape / ``repr`` text
    rather than failing the whole batch.

    Args:
        records: The records, in order.

    Returns:
        The encoded batch.

    Raises:
        RecordEncodeError: If a record holds a number no codec can carry.
    """
    return encode_records(_MSGPACK_ENCODER.encode, records if isinstance(records, list) else list(records))


def decode_batch(data: bytes | bytearray | memoryview) -> list[Record]:
    """Decode a batch made by :func:`encode_batch`.

    Args:
        data: The encoded batch.

    Returns:
        The records, in order.

    Raises:
        RecordDecodeError: If the bytes are truncated, not msgpack, or not a
            list of records; ``offset`` and ``index`` point at the fault.
    """
    try:
        return _BATCH_DECODER.decode(data)
    except msgspec.DecodeError as exc:
        raise _locate_batch_error(data, exc) from exc


def _locate_batch_error(
    data: bytes | bytearray | memoryview, exc: msgspec.DecodeError
) -> RecordDecodeError:
    """Work out which record and byte a failed batch decode stumbled on (error path only)."""
    reason = str(exc)
    try:
        raws = _RAW_BATCH_DECODER.decode(data)
    except msgspec.DecodeError as structural:
        message = str(structural)
        offset = byte_offset_from_message(message)
        if offset is None and "truncated" in message:
            offset = len(data)
        return RecordDecodeError(message, offset=offset)
    # The elements are contiguous and end the input, so each one's offset follows from the sizes.
    offset = len(data) - sum(len(raw) for raw in raws)
    for index, raw in enumerate(raws):
        try:
            _RECORD_DECODER.decode(raw)
        except msgspec.DecodeError as bad:
            return RecordDecodeError(str(bad), offset=offset, index=index)
        offset += len(raw)
    return RecordDecodeError(reason)


def encode_jsonl(records: Iterable[Record]) -> bytes:
    r"""Encode records as JSON Lines: one compact JSON object per line, each ending in ``\n``.

    Newlines inside messages are escaped by JSON, so one record is always one line.
    """
    return b"".join(encode_records(JSON_ENCODER.encode, record) + b"\n" for record in records)


def iter_jsonl(lines: Iterable[bytes | str]) -> Iterator[Record]:
    """Decode records from JSON Lines, e.g. an open file, lazily.

    Blank lines are skipped.

    Args:
        lines: Lines of JSON, with or without their newline.

    Yields:
        One record per non-blank line.

    Raises:
        RecordDecodeError: On the first line that is not a valid record;
            ``index`` is its 1-based line number.
    """
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            yield JSON_DECODER.decode(line)
        except msgspec.DecodeError as exc:
            message = str(exc)
            raise RecordDecodeError(
                f"line {number}: {message}", offset=byte_offset_from_message(message), index=number
            ) from exc


def decode_jsonl(data: bytes | str) -> list[Record]:
    """Decode a whole JSON Lines document; see :func:`iter_jsonl`."""
    return list(iter_jsonl(data.splitlines()))
