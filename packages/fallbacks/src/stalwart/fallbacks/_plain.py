"""The fast lossless check behind ``write_json``: plain JSON data, needing no tag.

:func:`stalwart.fallbacks._tagged.encode_types` answers the same question with
a depth-first walk that looks at one value at a time. That walk is the hot loop
of a large write (most of its time on 100,000 records), because each of the
~300,000 small dicts and lists costs a Python call and a key check of its own.
:func:`is_plain_json` checks the same values breadth-first, in *groups*:

* the children of many containers are gathered with C-level iteration
  (``chain.from_iterable``) instead of one Python call per container;
* a group is split into columns by index (``values[i::width]`` with ``width``
  the size of its first container), so records that share a shape give
  columns of one type each — ids, names, scores — and one
  ``set(map(type, column))`` types the whole column in C: a column of ``str``
  is done, a column of ``float`` is finite exactly when its ``sum`` is (any
  NaN or infinity makes the sum NaN or infinite; an overflow of finite floats
  only sends the data to the exact path), a column of dicts or lists is the
  next group. Splitting by index covers every value whatever the shapes, so a
  mixed column costs speed (a Python scan), never soundness;
* the keys of all dicts of a group are checked at once. On CPython 3.11,
  ``gc.get_referents(*dicts)`` gathers the values in one C call, and its
  length proves the keys: the collector's traversal of a dict whose keys are
  all exact ``str`` (the "unicode" table kind) visits only its values, while
  any other dict visits keys *and* values, so the count equals the dicts' total
  length only if every key is a ``str`` (dict_traverse in Objects/dictobject.c,
  checked for 3.11; other versions use the portable way). Elsewhere,
  ``"".join`` over all keys accepts exactly the ``str`` instances the exact walk
  accepts. A ``"$stalwart"`` key is found in the encoded bytes, where msgspec
  writes it literally (a string value ``"$stalwart"`` only sends the data to
  the exact path).

It answers True only for data that :func:`encode_types` would return unchanged:
exact ``str``/``int``/``bool``/``None`` and finite ``float`` leaves inside
exact ``list``/``dict`` containers with ``str`` keys and no ``"$stalwart"``
key. False means "take the exact path", which decides what to tag or reject.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable, Sequence
from itertools import chain
from math import isfinite
from typing import Any

from stalwart.fallbacks._tagged import MARKER_BYTES

__all__ = ["is_plain_json"]

_LEAF_TYPES = frozenset({str, int, bool, type(None)})
#: Below this many values a group is scanned in Python: typing it in C would not pay.
_MIN_GROUP = 16
_from_iterable = chain.from_iterable
_dict_values = dict.values
#: Whether a dict with only exact-``str`` keys traverses to its values alone (verified for 3.11).
TRAVERSAL_SKIPS_STR_KEYS = sys.implementation.name == "cpython" and sys.version_info[:2] == (3, 11)


def is_plain_json(value: Any, encoded: bytes) -> bool:
    """Return True if ``value`` is plain JSON data that needs no tagged encoding.

    Args:
        value: The data to check.
        encoded: msgspec's encoding of ``value``. Searched for the marker key,
            and its length bounds the work: every value takes at least one byte
            of it, so plain data always fits, while data that grows under the
            check (a list a thread appends to itself) cannot loop for ever.

    Returns:
        True only if the data is plain; False if it needs the exact path.

    """
    if MARKER_BYTES in encoded:
        return False
    budget = len(encoded)
    groups: list[Sequence[Any]] = [(value,)]
    while groups:
        values = groups.pop()
        budget -= len(values)
        if budget < 0:
            return False
        dicts: Sequence[dict[Any, Any]] = ()
        lists: Sequence[list[Any]] = ()
        kinds = _kinds(values) if len(values) >= _MIN_GROUP else None
        if kinds is not None and len(kinds) == 1:
            kind = kinds.pop()
            if kind in _LEAF_TYPES:
                continue
            if kind is float:
                if isfinite(sum(values)):
                    continue
                return False
            if kind is dict:
                dicts = values
            elif kind is list:
                lists = values
            else:
                return False
        elif kinds is not None and _LEAF_TYPES.issuperset(kinds):
            continue
        else:
            found_dicts: list[dict[Any, Any]] = []
            found_lists: list[list[Any]] = []
            if not _scan(values, found_dicts.append, found_lists.append):
                return False
            dicts, lists = found_dicts, found_lists
        if dicts:
            children = _values_if_str_keys(dicts)
            if children is None:
                return False
            _split(children, len(dicts), len(dicts[0]), groups)
        if lists:
            _split(list(_from_iterable(lists)), len(lists), len(lists[0]), groups)
    return True


def _kinds(values: Sequence[Any]) -> set[type] | None:
    """Return the set of the values' types, or None if one cannot be hashed.

    A class whose metaclass sets ``__hash__ = None`` cannot go in a set; such a
    value is no plain JSON anyway, and the Python scan (by identity) rejects it.
    """
    try:
        return set(map(type, values))
    except TypeError:
        return None


def _scan(
    values: Sequence[Any],
    add_dict: Callable[[dict[Any, Any]], None],
    add_list: Callable[[list[Any]], None],
) -> bool:
    """Check the leaves of a mixed or small group; hand its containers on."""
    for item in values:
        kind = type(item)
        if kind is str or kind is int or kind is bool or item is None:
            continue
        if kind is float:
            if item - item == 0.0:  # finite; NaN and +/-inf give NaN
                continue
            return False
        if kind is dict:
            add_dict(item)
        elif kind is list:
            add_list(item)
        else:
            return False
    return True


def _split(children: list[Any], containers: int, width: int, groups: list[Sequence[Any]]) -> None:
    """Queue ``children`` as columns (by index modulo ``width``) when that can pay off."""
    if containers >= _MIN_GROUP and width > 1:
        groups.extend([children[column::width] for column in range(width)])
    else:
        groups.append(children)


def _values_if_str_keys(dicts: Sequence[dict[Any, Any]]) -> list[Any] | None:
    """Return the values of all ``dicts`` if every key is a ``str``, else None."""
    if TRAVERSAL_SKIPS_STR_KEYS:
        values = gc.get_referents(*dicts)
        # More referents than values: some dict also visited its keys, so one is no exact str.
        return values if len(values) == sum(map(len, dicts)) else None
    try:
        # str instances only, as the exact walk's isinstance check; no copy of the dicts.
        "".join(_from_iterable(dicts))
    except TypeError:
        return None
    return list(_from_iterable(map(_dict_values, dicts)))
