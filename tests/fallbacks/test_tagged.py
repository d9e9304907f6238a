"""The tagged type encoding: every supported type round-trips exactly; the rest raises."""

from __future__ import annotations

import datetime as dt
import decimal
import math
import pathlib
import uuid
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stalwart.fallbacks import MARKER, UnsupportedTypeError, read_json, write_json
from stalwart.fallbacks._jsonfile import encode_json
from stalwart.fallbacks._readfile import decode_json_bytes
from stalwart.fallbacks._tagged import TagError, decode_types, encode_types

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(),
    st.binary(max_size=20),
    st.binary(max_size=8).map(bytearray),
    st.complex_numbers(allow_nan=False, allow_infinity=False),
    st.datetimes(
        timezones=st.none() | st.just(dt.timezone.utc) | st.just(dt.timezone(dt.timedelta(hours=-5)))
    ),
    st.dates(),
    st.decimals(allow_nan=False),
    st.uuids(),
    st.builds(pathlib.Path, st.text(alphabet="abc/", min_size=1, max_size=8)),
)
HASHABLE = st.one_of(st.integers(), st.text(max_size=5), st.uuids(), st.dates())
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=4).map(tuple),
        st.sets(HASHABLE, max_size=4),
        st.frozensets(HASHABLE, max_size=4),
        st.dictionaries(st.text(max_size=6), inner, max_size=4),
        st.dictionaries(HASHABLE, inner, max_size=3),
    ),
    max_leaves=20,
)


def _same(left: Any, right: Any) -> bool:
    """Equality that also checks types (1 == 1.0 == True would hide a lossy round trip)."""
    if type(left) is not type(right):
        return False
    if isinstance(left, (list, tuple)):
        return len(left) == len(right) and all(_same(a, b) for a, b in zip(left, right, strict=True))
    if isinstance(left, dict):
        return left.keys() == right.keys() and all(_same(left[k], right[k]) for k in left)
    if isinstance(left, float) and math.isnan(left):
        return math.isnan(right)
    return bool(left == right)


@settings(max_examples=60, deadline=None)
@given(value=VALUES)
def test_every_supported_type_round_trips_exactly_through_a_file(tmp_path_factory: Any, value: Any) -> None:
    path = tmp_path_factory.getbasetemp() / "round-trip.json"
    write_json(value, path, durable=False, backups=0)
    assert _same(value, read_json(path))


@settings(max_examples=40, deadline=None)
@given(value=st.recursive(st.floats() | st.text(max_size=3), lambda inner: st.lists(inner, max_size=4)))
def test_nan_and_infinities_round_trip_with_nan_tag(value: Any) -> None:
    raw = encode_json(value, nan="tag")
    assert _same(value, decode_json_bytes(raw, "<memory>"))


@pytest.mark.parametrize(
    "value",
    [
        b"\x00\xff",
        bytearray(b"ab"),
        {1, 2},
        frozenset({"a"}),
        1 + 2j,
        (1, (2, 3)),
        dt.datetime(2024, 1, 2, 3, 4, 5, 6),
        dt.date(2024, 2, 29),
        decimal.Decimal("1.10"),
        decimal.Decimal("NaN"),
        uuid.UUID(int=7),
        pathlib.Path("/tmp/x"),
        {(1, 2): "tuple key"},
        {MARKER: "user data that looks like a tag"},
    ],
)
def test_each_tagged_type_comes_back_with_its_type(value: Any) -> None:
    encoded = encode_types(value)
    assert _same(value, decode_types(encoded)) or (
        isinstance(value, decimal.Decimal) and decode_types(encoded).is_nan()
    )


def test_zoneinfo_datetime_keeps_its_zone() -> None:
    zoneinfo = pytest.importorskip("zoneinfo")
    try:
        zone = zoneinfo.ZoneInfo("Europe/Paris")
    except zoneinfo.ZoneInfoNotFoundError:
        pytest.skip("no tz database on this machine")
    moment = dt.datetime(2024, 7, 1, 12, 0, tzinfo=zone)
    restored = decode_types(encode_types(moment))
    assert moment == restored
    assert "Europe/Paris" == restored.tzinfo.key


def test_plain_json_data_is_not_copied() -> None:
    data = [{"id": 1, "tags": ["a", "b"], "nested": {"a": 1.5, "b": None}}]
    assert data is encode_types(data)


def test_unknown_type_raises_with_the_path_to_the_value() -> None:
    class Opaque:
        pass

    with pytest.raises(UnsupportedTypeError) as caught:
        encode_types([{"ok": 1}, {"tags": [1, Opaque()]}])
    assert "$[1]['tags'][1]" == caught.value.value_path
    assert "Opaque" in str(caught.value)


def test_unknown_type_inside_a_tuple_reports_its_index() -> None:
    with pytest.raises(UnsupportedTypeError) as caught:
        encode_types({"t": (1, 2, object())})
    assert "$['t'][2]" == caught.value.value_path


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_nan_raises_by_default(value: float) -> None:
    with pytest.raises(UnsupportedTypeError) as caught:
        encode_types({"x": [value]})
    assert "$['x'][0]" == caught.value.value_path


@pytest.mark.parametrize("value", [math.inf, -math.inf])
def test_nan_policy_tag_keeps_infinities(value: float) -> None:
    assert value == decode_types(encode_types([value], nan="tag"))[0]


def test_nan_policy_tag_keeps_nan() -> None:
    assert math.isnan(decode_types(encode_types([math.nan], nan="tag"))[0])


def test_nan_policy_null_writes_none() -> None:
    assert [None, 1.0] == encode_types([math.nan, 1.0], nan="null")


def test_unknown_nan_policy_is_rejected() -> None:
    with pytest.raises(ValueError, match="nan must be"):
        encode_types([], nan="zero")  # type: ignore[arg-type]


def test_enum_int_subclass_is_not_silently_stringified() -> None:
    import enum

    class Color(enum.IntEnum):
        RED = 1

    with pytest.raises(UnsupportedTypeError):
        encode_types({"c": Color.RED})


@pytest.mark.parametrize(
    "tagged",
    [
        {MARKER: "bytes", "v": "not base64!"},
        {MARKER: "nope", "v": 1},
        {MARKER: "tuple"},
        {MARKER: "tuple", "v": 1},
        {MARKER: "date", "v": "2024-13-45"},
    ],
)
def test_malformed_tags_raise_tag_error(tagged: dict[str, Any]) -> None:
    with pytest.raises(TagError):
        decode_types(tagged)


def test_self_containing_data_raises_a_typed_error() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(UnsupportedTypeError, match="recursion limit"):
        encode_types(loop)


@pytest.mark.parametrize("value", [complex(math.inf, 0), complex(0, math.nan), complex(-math.inf, math.inf)])
def test_nan_policy_null_writes_a_non_finite_complex_as_none_and_the_file_reads_back(
    tmp_path: pathlib.Path, value: complex
) -> None:
    path = tmp_path / "a.json"
    write_json([value, complex(1, 2)], path, nan="null")
    assert [None, complex(1, 2)] == read_json(path)


def test_restoring_tags_in_data_nested_deeper_than_the_recursion_limit_is_a_tag_error() -> None:
    import sys

    # What msgspec may decode where its C recursion limit exceeds Python's (3.12+): a TagError,
    # which every reader turns into CorruptFileError, never a RecursionError.
    deep: list[Any] = [{"$stalwart": "bytes", "v": ""}]
    for _ in range(sys.getrecursionlimit() * 3):
        deep = [deep]
    with pytest.raises(TagError, match="nested too deeply"):
        decode_types(deep)
