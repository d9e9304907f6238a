"""stalwart-core: the record schema, codecs and logging bridge every stalwart package shares.

Example:
    >>> import logging
    >>> from stalwart.core import Record, decode_batch, encode_batch
    >>> rec = Record.create(logging.INFO, "app", "hello")
    >>> decode_batch(encode_batch([rec])) == [rec]
    True
"""

from __future__ import annotations

from stalwart.core.__about__ import __version__
from stalwart.core._codec import decode_batch, decode_jsonl, encode_batch, encode_jsonl, iter_jsonl
from stalwart.core._errors import RecordDecodeError, RecordEncodeError, StalwartError
from stalwart.core._fork import ForkAware, reset_after_fork
from stalwart.core._jsonable import safe_repr, to_jsonable, to_utf8_text
from stalwart.core._level import Level, level_name
from stalwart.core._record import Kind, Record, current_host, encodable

__all__ = [
    "ForkAware",
    "Kind",
    "Level",
    "Record",
    "RecordDecodeError",
    "RecordEncodeError",
    "StalwartError",
    "__version__",
    "current_host",
    "decode_batch",
    "decode_jsonl",
    "encodable",
    "encode_batch",
    "encode_jsonl",
    "iter_jsonl",
    "level_name",
    "reset_after_fork",
    "safe_repr",
    "to_jsonable",
    "to_utf8_text",
]
