"""Turning arbitrary Python values into values every stalwart codec can carry."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = ["MAX_DEPTH", "safe_repr", "to_jsonable", "to_utf8_text"]

#: Nesting deeper than this is stored as ``repr`` text instead of recursing further.
MAX_DEPTH = 32

# msgpack carries integers in [-2**63, 2**64 - 1]; anything wider becomes text.
_INT_MIN = -(2**63)
_INT_MAX = 2**64 - 1


def to_utf8_text(text: str) -> str:
    r"""Return ``text`` with lone surrogates replaced by ``\udcxx`` escapes, so UTF-8 can encode it.

    Lone surrogates come from bytes decoded with ``surrogateescape`` (e.g. a
    non-UTF-8 file name from ``os.listdir``); no codec can write them, so they
    are kept as visible escape text instead.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def safe_repr(value: object) -> str:
    """Return ``repr(value)``, or something close when that raises: never raise.

    A ``__repr__`` that raises (an ORM object detached from its session) gives
    the default ``<module.Type object at 0x...>``; an int too long for
    ``repr`` (past ``sys.get_int_max_str_digits()`` digits) is written in hex.

    Args:
        value: Any Python value.

    Returns:
        Text describing ``value``.
    """
    try:
        return repr(value)
    except Exception:  # noqa: BLE001 - the caller is keeping a record of value: any text beats none
        if isinstance(value, int):
            return hex(value)
        return object.__repr__(value)


def to_jsonable(value: Any, _depth: int = 0) -> Any:
    """Return ``value`` as JSON-able data, replacing what is not JSON-able by its ``repr``.

    JSON-able means ``None``, ``bool``, ``int`` (64-bit), finite ``float``,
    ``str`` (UTF-8 encodable, see :func:`to_utf8_text`), lists/tuples of those
    and mappings with ``str`` keys. Tuples become lists; non-string mapping
    keys become ``str(key)`` (quoted again while that text is already a key,
    so no value is lost to a collision); anything else
    (objects, sets, bytes, NaN, huge ints, cycles beyond :data:`MAX_DEPTH`)
    becomes :func:`safe_repr` text (``repr`` unless that raises), so the
    information is kept as text, never dropped, and nothing here raises.

    Args:
        value: Any Python value.

    Returns:
        A value msgpack and JSON encode losslessly.
    """
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return to_utf8_text(value)
    if isinstance(value, int):
        return int(value) if _INT_MIN <= value <= _INT_MAX else safe_repr(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else safe_repr(value)
    if _depth >= MAX_DEPTH:
        return safe_repr(value)
    if isinstance(value, (list, tuple)):
        return [to_jsonable(item, _depth + 1) for item in value]
    if isinstance(value, Mapping):
        # String keys first, so a converted key never overwrites a real one.
        out = {to_utf8_text(k): to_jsonable(v, _depth + 1) for k, v in value.items() if isinstance(k, str)}
        for key, item in value.items():
            if not isinstance(key, str):
                try:
                    text = str(key)
                except Exception:  # noqa: BLE001 - as safe_repr: a key whose __str__ raises keeps its value
                    text = safe_repr(key)
                while text in out:
                    text = f"{text!r}"
                out[text] = to_jsonable(item, _depth + 1)
        return out
    return safe_repr(value)
