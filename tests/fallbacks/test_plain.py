"""The fast lossless check: True only where the exact walk finds nothing to tag; writes stay exact."""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import json
import math
import os
import pathlib
import uuid
from collections import OrderedDict, UserList
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stalwart.fallbacks import (
    UnsupportedTypeError,
    _atomic,
    _locking,
    _plain,
    get_performance_stats,
    read_json,
    write_json,
)
from stalwart.fallbacks._tagged import encode_types

NATIVE = [True] if _plain.TRAVERSAL_SKIPS_STR_KEYS else []


@pytest.fixture(autouse=True, params=[*NATIVE, False], ids=lambda native: "gc-referents" if native else "join")
def key_check(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run every test with both ways of checking keys (the gc one exists on CPython 3.11 only)."""
    monkeypatch.setattr(_plain, "TRAVERSAL_SKIPS_STR_KEYS", request.param)


def is_plain(data: Any) -> bool:
    """The check as write_json calls it: with msgspec's encoding (or a stand-in where it refuses)."""
    try:
        encoded = msgspec.json.encode(data)
    except (TypeError, ValueError):
        encoded = b"0" * 10**6  # write_json would not even ask; the check must say no anyway
    return _plain.is_plain_json(data, encoded)


def _exact_says_plain(value: Any) -> bool:
    """The reference: the exact walk returns plain data unchanged (no copy)."""
    try:
        return encode_types(value) is value
    except (UnsupportedTypeError, ValueError):
        return False


def _records(count: int) -> list[dict[str, Any]]:
    return [
        {
            "id": i,
            "name": f"user {i}",
            "score": i * 0.25,
            "ok": i % 2 == 0,
            "note": None,
            "tags": ["alpha", "beta"],
            "nested": {"a": i % 7, "b": f"note {i}"},
        }
        for i in range(count)
    ]


class Color(enum.IntEnum):
    RED = 1


class Text(str):
    pass


class Weird(dict[str, Any]):
    pass


def _poisoned(where: str, value: Any) -> list[dict[str, Any]]:
    """40 records (columns of one type each) with ``value`` put in record 23."""
    records = _records(40)
    record = records[23]
    if where == "tags":
        record["tags"][1] = value
    elif where == "nested":
        record["nested"]["b"] = value
    else:
        record[where] = value
    return records


POISONS = [
    (1, 2),
    {1},
    frozenset({"a"}),
    b"raw",
    bytearray(b"raw"),
    1j,
    dt.datetime(2026, 11, 23, 12, 0),
    dt.date(2026, 11, 23),
    decimal.Decimal("1.5"),
    uuid.UUID(int=7),
    pathlib.Path("/tmp/x"),
    math.nan,
    math.inf,
    -math.inf,
    Color.RED,
    Text("subclass"),
    Weird(a=1),
    OrderedDict(a=1),
    UserList([1]),
    object(),
]


@pytest.mark.parametrize("where", ["score", "name", "tags", "nested"])
@pytest.mark.parametrize("value", POISONS, ids=lambda value: type(value).__name__ + repr(value)[:12])
def test_any_value_that_needs_a_tag_or_raises_is_never_plain(where: str, value: Any) -> None:
    data = _poisoned(where, value)
    assert _exact_says_plain(data) is False
    assert is_plain(data) is False


@pytest.mark.parametrize(
    "key", [1, 1.5, None, True, (1, 2), uuid.UUID(int=1), dt.date(2026, 1, 1), "$stalwart"], ids=repr
)
@pytest.mark.parametrize("where", ["record", "nested"])
def test_a_dict_with_one_non_str_or_marker_key_is_never_plain(where: str, key: Any) -> None:
    data = _records(40)
    target = data[31] if where == "record" else data[31]["nested"]
    target[key] = 1
    assert is_plain(data) is False


def test_plain_records_are_plain_as_for_the_exact_walk() -> None:
    data = _records(200)
    assert _exact_says_plain(data) is True
    assert is_plain(data) is True


def test_str_subclass_keys_are_written_as_plain_str_keys(tmp_path: Path) -> None:
    data = _records(40)
    data[5][Text("extra")] = 1
    assert _exact_says_plain(data) is True
    # "".join accepts them as the exact walk does; the gc way leaves them to the exact path.
    assert is_plain(data) is (not _plain.TRAVERSAL_SKIPS_STR_KEYS)
    write_json(data, tmp_path / "k.json")
    assert data == read_json(tmp_path / "k.json")


def test_records_of_different_shapes_are_still_checked_value_by_value() -> None:
    data: list[Any] = [*_records(30), {"x": [1, 2, 3, {"y": (1,)}]}, [1, "a", None], 5]
    assert is_plain(data) is False
    data[30]["x"][3]["y"] = [1]
    assert is_plain(data) is True


def test_huge_finite_floats_whose_sum_overflows_still_round_trip(tmp_path: Path) -> None:
    data = [1e308] * 40  # the column sum overflows: the exact path takes over
    write_json(data, tmp_path / "f.json")
    assert data == read_json(tmp_path / "f.json")


def test_a_check_over_budget_gives_up() -> None:
    data = _records(40)
    assert _plain.is_plain_json(data, b"0" * 100) is False  # fewer bytes than values: data grew


def test_self_containing_data_still_raises_a_typed_error(tmp_path: Path) -> None:
    loop: list[Any] = [1]
    loop.append(loop)
    with pytest.raises(UnsupportedTypeError, match="recursion limit"):
        write_json(loop, tmp_path / "loop.json")
    assert not (tmp_path / "loop.json").exists()


JSON_LEAVES = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=4)
)
ANY_LEAVES = JSON_LEAVES | st.sampled_from([(1,), {2}, b"b", 1j, Color.RED, Text("t"), dt.date(2026, 1, 1)])
KEYS = st.text(max_size=3) | st.sampled_from(["$stalwart", 1, Text("k")])
TREES = st.recursive(
    ANY_LEAVES,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(template=TREES, count=st.integers(min_value=1, max_value=40), poison=st.none() | ANY_LEAVES)
def test_plain_only_if_the_exact_walk_finds_it_plain(template: Any, count: int, poison: Any) -> None:
    # Many similar records (columns of one type), some with a different value in one place.
    data = [{"k": template, "n": [i, template]} for i in range(count)]
    if poison is not None:
        data[count // 2]["n"][1] = poison
    if is_plain(data):
        assert _exact_says_plain(data)


def test_large_write_with_a_tagged_value_far_in_is_exact_and_leaves_no_temp(tmp_path: Path) -> None:
    data: list[Any] = _records(20_000)  # over 1 MiB: the check runs while the temp is written
    data[15_000]["tags"] = ("alpha", "beta")
    path = tmp_path / "big.json"
    before = get_performance_stats()["writes"]
    write_json(data, path)
    assert 1 == get_performance_stats()["writes"] - before
    assert ("alpha", "beta") == read_json(path)[15_000]["tags"]
    assert [] == [name for name in os.listdir(tmp_path) if name.endswith(".tmp")]


@pytest.mark.parametrize("size", [10, 20_000], ids=["small", "over-1-MiB"])
def test_data_that_is_not_plain_is_written_under_one_lock_acquisition(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int
) -> None:
    # The fast attempt and the exact encoding share one hold of <path>.lock: no other writer
    # can get in between, and the exact path encodes the data as it is under that lock.
    taken: list[str] = []
    real_lock = _locking.file_lock

    def counting_lock(path: str, timeout: float | None) -> Any:
        taken.append(path)
        return real_lock(path, timeout)

    monkeypatch.setattr(_atomic, "file_lock", counting_lock)
    data: list[Any] = _records(size)
    data[size // 2]["tags"] = ("alpha", "beta")
    path = tmp_path / "data.json"
    write_json(data, path)
    assert 1 == len(taken)
    assert ("alpha", "beta") == read_json(path)[size // 2]["tags"]
    assert [] == [name for name in os.listdir(tmp_path) if name.endswith(".tmp")]


def test_an_error_of_the_exact_encoding_after_a_large_fast_attempt_carries_no_internal_context(
    tmp_path: Path,
) -> None:
    # The refill runs outside the handler of the rejected attempt: its traceback (which held the
    # rejected payload in memory) is gone, and the user's error does not chain an internal one.
    data: list[Any] = _records(20_000)
    data[-1]["tags"] = ("alpha", float("nan"))  # a tuple (fast check says no), then NaN the exact path refuses
    path = tmp_path / "data.json"
    write_json([1], path)
    with pytest.raises(UnsupportedTypeError) as caught:
        write_json(data, path)
    assert not isinstance(caught.value.__context__, _atomic.Unconfirmed)
    assert [1] == read_json(path)
    assert [] == [name for name in os.listdir(tmp_path) if name.endswith(".tmp")]


def test_large_plain_write_reads_back_equal(tmp_path: Path) -> None:
    data = _records(20_000)
    path = tmp_path / "big.json"
    write_json(data, path, backups=2)
    write_json(data, path, backups=2)
    assert data == read_json(path)
    assert data == read_json(f"{path}.1")


class _UnhashableMeta(type):
    """A metaclass without hash: its classes cannot go in a set."""

    __hash__ = None  # type: ignore[assignment]

    def __eq__(cls, other: object) -> bool:
        return cls is other


class _OddList(list[Any], metaclass=_UnhashableMeta):
    pass


@pytest.mark.parametrize(
    "data",
    [
        [1] * 20 + [_OddList([1])],
        [{"a": _OddList([2])} for _ in range(20)],
    ],
    ids=["in-a-list", "in-a-column"],
)
def test_a_type_whose_metaclass_is_unhashable_is_not_plain_and_the_exact_path_writes_it(
    tmp_path: Path, data: Any
) -> None:
    assert False is is_plain(data)
    write_json(data, tmp_path / "d.json")
    assert json.loads(json.dumps(data)) == read_json(tmp_path / "d.json")
