"""Turning arbitrary Python values into values every stalwart codec can carry."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = ["MAX_DEPTH", "to_jsonable"]

#: Nesting deeper than this is stored as ``repr`` text instead of recursing further.
MAX_DEPTH = 32

# msgpack carries integers in [-2**63, 2**64 - 1]; anything wider becomes text.
_INT_MIN = -(2**63)
_INT_MAX = 2**64 - 1


def to_jsonable(value: Any, _depth: int = 0) -> Any:
    """Return ``value`` as JSON-able data, replacing what is not JSON-able by its ``repr``.

    JSON-able means ``None``, ``bool``, ``int`` (64-bit), finite ``float``,
    ``str``, lists/tuples of those and mappings with ``str`` keys. Tuples
    become lists; non-string mapping keys become ``str(key)``; anything else
    (objects, sets, bytes, NaN, huge ints, cycles beyond :data:`MAX_DEPTH`)
    becomes ``repr(value)`` so the information is kept as text, never dropped.

    Args:
        value: Any Python value.

    Returns:
        A value msgpack and JSON encode losslessly.
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value) if _INT_MIN <= value <= _INT_MAX else repr(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else repr(value)
    if _depth >= MAX_DEPTH:
        return repr(value)
    if isinstance(value, (list, tuple)):
        return [to_jsonable(item, _depth + 1) for item in value]
    if isinstance(value, Mapping):
        return {
            key if isinstance(key, str) else str(key): to_jsonable(item, _depth + 1)
            for key, item in value.items()
        }
    return repr(value)
