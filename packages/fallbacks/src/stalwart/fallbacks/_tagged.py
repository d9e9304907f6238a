"""The tagged encoding: Python values JSON has no type for, written so they come back exactly.

A value JSON cannot carry natively is written as a one-entry object of the form
``{"$stalwart": TAG, "v": PAYLOAD}``:

=============  ======================================================
TAG            PAYLOAD
=============  ======================================================
``bytes``      base64 text (``bytearray`` uses the tag ``bytearray``)
``tuple``      array of the items
``set``        array of the items, sorted when they are orderable
``frozenset``  same as ``set``
``complex``    ``[real, imag]`` (with ``nan="null"`` a non-finite one is ``null``)
``datetime``   ISO 8601 text; a ``zoneinfo`` zone adds ``"zone": KEY``
``date``       ISO 8601 text
``decimal``    ``str(d)`` (exact, including ``NaN`` / ``Infinity``)
``uuid``       canonical hyphenated text
``path``       ``str(p)`` of a concrete :class:`pathlib.Path`
``float``      ``"nan"``, ``"inf"`` or ``"-inf"`` (only with ``nan="tag"``)
``dict``       ``[[key, value], ...]`` for a dict whose keys are not all
               ``str`` or that has a ``"$stalwart"`` key of its own
=============  ======================================================

Everything else that is not ``None``/``bool``/``int``/``float``/``str``/``list``/
``dict`` raises :class:`UnsupportedTypeError` naming where the value sits.
Subclasses of ``dict`` and ``list`` are written as plain dicts and lists.
"""

from __future__ import annotations

import base64
import datetime as _dt
import decimal
import pathlib
import uuid
from collections.abc import Callable, Iterable
from typing import Any, Literal, TypeVar

from stalwart.fallbacks._errors import UnsupportedTypeError

__all__ = [
    "MARKER",
    "MARKER_BYTES",
    "NanPolicy",
    "TagError",
    "check_nan_policy",
    "decode_types",
    "encode_types",
    "map_items",
    "unencodable_text",
]

#: The key that marks a tagged value.
MARKER = "$stalwart"
#: How the marker key appears in our JSON output; if absent, a file holds no tagged value.
MARKER_BYTES = b'"$stalwart"'

#: What to do with NaN and +/-infinity floats: raise, write a tagged value, or write ``null``.
NanPolicy = Literal["raise", "tag", "null"]

_NAN_POLICIES = ("raise", "tag", "null")
_T = TypeVar("_T")


class TagError(ValueError):
    """A ``{"$stalwart": ...}`` object in a file is malformed (the file is damaged)."""


def encode_types(value: Any, nan: NanPolicy = "raise") -> Any:
    """Return ``value`` with every non-JSON value replaced by its tagged form.

    Containers that need no change are returned as they are (no copy), so plain
    JSON data costs one walk and no allocation.

    Args:
        value: The data to write.
        nan: The NaN / infinity policy.

    Returns:
        JSON-native data (``None``, ``bool``, ``int``, ``float``, ``str``, ``list``, ``dict``).

    Raises:
        UnsupportedTypeError: A value has no lossless encoding; ``value_path`` says where.
        ValueError: ``nan`` is not one of ``"raise"``, ``"tag"``, ``"null"``.

    """
    check_nan_policy(nan)
    try:
        return _encode(value, nan)
    except RecursionError as exc:
        # Also what a self-containing list or dict ends in.
        raise UnsupportedTypeError(
            type(value).__name__, "nested deeper than the recursion limit (or contains itself)"
        ) from exc


def check_nan_policy(nan: str) -> None:
    """Raise ``ValueError`` unless ``nan`` is ``"raise"``, ``"tag"`` or ``"null"``."""
    if nan not in _NAN_POLICIES:
        raise ValueError(f"nan must be one of {_NAN_POLICIES}, not {nan!r}")


def _encode(value: Any, nan: NanPolicy) -> Any:
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is float:
        return value if value - value == 0.0 else _non_finite(value, nan)
    if kind is dict:
        return _encode_dict(value, nan)
    if kind is list:
        return _encode_list(value, nan)
    return _encode_other(value, nan)


_is_str = str.__instancecheck__


def _is_plain(values: Iterable[Any]) -> bool:
    """Return True if every value (recursively) is JSON-native and needs no tag.

    The hot loop of every write: it only looks, never allocates, and gives up at
    the first value that needs work, leaving error paths to the rebuild.
    """
    for item in values:
        kind = type(item)
        if kind is str or kind is int or kind is bool or item is None:
            continue
        if kind is float:
            if item - item == 0.0:  # finite; NaN and +/-inf give NaN
                continue
            return False
        if kind is dict:
            if MARKER not in item and all(map(_is_str, item)) and _is_plain(item.values()):
                continue
            return False
        if kind is list and _is_plain(item):
            continue
        return False
    return True


def _encode_list(items: list[Any], nan: NanPolicy) -> list[Any]:
    return items if _is_plain(items) else _rebuild_sequence(items, nan)


def _encode_dict(mapping: dict[Any, Any], nan: NanPolicy) -> Any:
    if MARKER not in mapping and all(map(_is_str, mapping)):
        if _is_plain(mapping.values()):
            return mapping
        out: dict[str, Any] = {}
        for key, item in mapping.items():
            try:
                out[key] = _encode(item, nan)
            except UnsupportedTypeError as exc:
                exc.add_parent(f"[{key!r}]")
                raise
        return out
    return _tag_dict_items(mapping, nan)


def map_items(function: Callable[[Any], _T], items: Iterable[Any]) -> list[_T]:
    """Return ``[function(item) ...]``; an ``UnsupportedTypeError`` gets the item's ``[index]``."""
    out = []
    for index, item in enumerate(items):
        try:
            out.append(function(item))
        except UnsupportedTypeError as exc:
            exc.add_parent(f"[{index}]")
            raise
    return out


def _rebuild_sequence(items: Iterable[Any], nan: NanPolicy) -> list[Any]:
    return map_items(lambda item: _encode(item, nan), items)


def _tag_dict_items(mapping: dict[Any, Any], nan: NanPolicy) -> dict[str, Any]:
    pairs = []
    for key, item in mapping.items():
        try:
            pairs.append([_encode(key, nan), _encode(item, nan)])
        except UnsupportedTypeError as exc:
            exc.add_parent(f"[{key!r}]")
            raise
    return {MARKER: "dict", "v": pairs}


def _non_finite(value: float, nan: NanPolicy) -> Any:
    if nan == "tag":
        return {MARKER: "float", "v": repr(value)}
    if nan == "null":
        return None
    raise UnsupportedTypeError(
        "float", f"{value!r} has no JSON encoding (pass nan='tag' to keep it or nan='null')"
    )


def _sorted_if_possible(items: set[Any] | frozenset[Any]) -> list[Any]:
    try:
        return sorted(items)
    except TypeError:
        # Mixed types do not order; keep iteration order (the set comes back equal anyway).
        return list(items)


def _encode_other(value: Any, nan: NanPolicy) -> Any:
    if isinstance(value, dict):
        return _encode_dict(dict(value), nan)
    if isinstance(value, list):
        return _encode_list(list(value), nan)
    if isinstance(value, float):
        return _non_finite(value, nan) if value - value != 0.0 else float(value)
    kind = type(value)
    if kind is bytes:
        return {MARKER: "bytes", "v": base64.b64encode(value).decode("ascii")}
    if kind is bytearray:
        return {MARKER: "bytearray", "v": base64.b64encode(value).decode("ascii")}
    if kind is tuple:
        return {MARKER: "tuple", "v": _rebuild_sequence(value, nan)}
    if kind is set or kind is frozenset:
        return {MARKER: kind.__name__, "v": _rebuild_sequence(_sorted_if_possible(value), nan)}
    if kind is complex:
        if nan == "null" and (value.real - value.real != 0.0 or value.imag - value.imag != 0.0):
            # A null part would make a malformed tag that nothing reads back: the whole
            # number becomes null, as a non-finite float does.
            return None
        return {MARKER: "complex", "v": _rebuild_sequence((value.real, value.imag), nan)}
    if kind is _dt.datetime:
        return _encode_datetime(value)
    if kind is _dt.date:
        return {MARKER: "date", "v": value.isoformat()}
    if kind is decimal.Decimal:
        return {MARKER: "decimal", "v": str(value)}
    if kind is uuid.UUID:
        return {MARKER: "uuid", "v": str(value)}
    if isinstance(value, pathlib.Path):
        return {MARKER: "path", "v": str(value)}
    raise UnsupportedTypeError(
        f"{kind.__module__}.{kind.__qualname__}",
        "no lossless JSON encoding (convert it to a supported type first)",
    )


def _encode_datetime(value: _dt.datetime) -> dict[str, Any]:
    tz = value.tzinfo
    tagged: dict[str, Any] = {MARKER: "datetime", "v": value.isoformat()}
    if tz is None or type(tz) is _dt.timezone:
        return tagged
    key = getattr(tz, "key", None)
    if type(tz).__name__ == "ZoneInfo" and isinstance(key, str):
        tagged["zone"] = key
        return tagged
    raise UnsupportedTypeError(
        f"datetime with tzinfo {type(tz).__qualname__}",
        "only datetime.timezone and zoneinfo.ZoneInfo zones round-trip",
    )


def decode_types(value: Any) -> Any:
    """Restore tagged values in freshly decoded JSON data (containers are updated in place).

    Args:
        value: Data decoded from JSON.

    Returns:
        The data with every ``{"$stalwart": ...}`` object turned back into its Python value.

    Raises:
        TagError: A tagged object is malformed, or the data is nested too deeply to walk.

    """
    try:
        return _decode_types(value)
    except RecursionError as exc:
        raise TagError("nested too deeply to restore tagged values (deeper than the recursion limit)") from exc


def _decode_types(value: Any) -> Any:
    kind = type(value)
    if kind is dict:
        if MARKER in value:
            return _untag(value)
        for key, item in value.items():
            if type(item) is dict or type(item) is list:
                restored = _decode_types(item)
                if restored is not item:
                    value[key] = restored
        return value
    if kind is list:
        for index, item in enumerate(value):
            if type(item) is dict or type(item) is list:
                restored = _decode_types(item)
                if restored is not item:
                    value[index] = restored
    return value


def _untag(tagged: dict[str, Any]) -> Any:
    tag = tagged[MARKER]
    payload: Any = tagged.get("v")
    extra = set(tagged) - {MARKER, "v", "zone"}
    if "v" not in tagged or extra:
        raise TagError(f"malformed tagged value {tagged!r}")
    try:
        if tag in ("bytes", "bytearray"):
            raw = base64.b64decode(payload, validate=True)
            return raw if tag == "bytes" else bytearray(raw)
        if tag == "tuple":
            return tuple(_decode_types(_as_list(payload)))
        if tag == "set":
            return set(_decode_types(_as_list(payload)))
        if tag == "frozenset":
            return frozenset(_decode_types(_as_list(payload)))
        if tag == "complex":
            real, imag = _decode_types(_as_list(payload))
            return complex(real, imag)
        if tag == "datetime":
            moment = _dt.datetime.fromisoformat(payload)
            zone = tagged.get("zone")
            if zone is not None:
                from zoneinfo import ZoneInfo

                moment = moment.astimezone(ZoneInfo(zone))
            return moment
        if tag == "date":
            return _dt.date.fromisoformat(payload)
        if tag == "decimal":
            return decimal.Decimal(payload)
        if tag == "uuid":
            return uuid.UUID(payload)
        if tag == "path":
            return pathlib.Path(payload)
        if tag == "float":
            return float(payload)
        if tag == "dict":
            return {_decode_types(key): _decode_types(item) for key, item in _as_list(payload)}
    except (TypeError, ValueError, ArithmeticError, LookupError) as exc:
        raise TagError(f"malformed tagged {tag!r} value {payload!r}: {exc}") from exc
    raise TagError(f"unknown tag {tag!r}")


def _as_list(payload: Any) -> list[Any]:
    if type(payload) is not list:
        raise TypeError(f"expected an array, got {type(payload).__name__}")
    return payload


def unencodable_text(data: Any, exc: UnicodeEncodeError) -> UnsupportedTypeError:
    """Return the error for a ``str`` UTF-8 cannot encode (a lone surrogate), naming where it sits.

    Such strings come from ``os.listdir`` / ``sys.argv`` of non-UTF-8 names
    (``surrogateescape``). Only called on failure, so the search may be slow.

    Args:
        data: The data being encoded, searched for the string (or key) at fault.
        exc: The encoder's error.

    Returns:
        An ``UnsupportedTypeError`` whose ``value_path`` names the string, or ``$``
        if the search does not find it (inside a ``msgspec.Struct``, or too deep).

    """
    reason = (
        f"{exc.object[exc.start : exc.end]!r} is a lone surrogate, which UTF-8 cannot encode"
        " (e.g. a non-UTF-8 file name from os.listdir)"
    )
    found = _find_unencodable(data, "$", 0)
    if found is None:
        return UnsupportedTypeError("str", reason)
    value_path, what = found
    return UnsupportedTypeError(what, reason, value_path)


def _find_unencodable(value: Any, at: str, depth: int) -> tuple[str, str] | None:
    """Return (path, "str" or "key") of the first string in ``value`` UTF-8 cannot encode."""
    if depth > 200:  # far below the recursion limit; the error then names the top
        return None
    if isinstance(value, str | pathlib.PurePath):
        return None if _encodable(str(value)) else (at, type(value).__name__)
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and not _encodable(key):
                return (f"{at}[{key!r}]", "key")
            found = _find_unencodable(item, f"{at}[{key!r}]", depth + 1)
            if found is not None:
                return found
    elif isinstance(value, list | tuple | set | frozenset):
        for index, item in enumerate(value):
            found = _find_unencodable(item, f"{at}[{index}]", depth + 1)
            if found is not None:
                return found
    return None


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
