"""Codecs round-trip what they accept and refuse, before writing, what they would store wrong."""

from __future__ import annotations

import datetime
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stalwart.shared_data import CODEC_NAMES, SharedStore, UnsupportedValueError

KEYS = st.text(max_size=20)
_INT64 = st.integers(min_value=-(2**63), max_value=2**64 - 1)
_AWARE = st.datetimes(
    timezones=st.sampled_from(
        [datetime.timezone.utc, datetime.timezone(datetime.timedelta(hours=5, minutes=30))]
    ),
    min_value=datetime.datetime(1970, 1, 2),
    max_value=datetime.datetime(2400, 1, 1),
)


def _plain(scalars: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=5) | st.dictionaries(KEYS, inner, max_size=5),
        max_leaves=20,
    )


MSGPACK_VALUES = _plain(
    st.none() | st.booleans() | _INT64 | st.floats(allow_nan=False) | st.text() | st.binary() | _AWARE
)
JSON_VALUES = _plain(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
)
PICKLE_VALUES = _plain(
    st.none()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text()
    | st.binary()
    | st.tuples(st.integers(), st.text())
    | st.frozensets(st.integers(), max_size=4)
    | st.complex_numbers(allow_nan=False)
)


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, SharedStore]]:
    folder = tmp_path_factory.mktemp("codecs")
    opened = {name: SharedStore(folder / f"{name}.db", codec=name) for name in CODEC_NAMES}
    yield opened
    for store in opened.values():
        store.close()


VALUES = {"msgpack": MSGPACK_VALUES, "json": JSON_VALUES, "pickle": PICKLE_VALUES}


@pytest.mark.parametrize("codec", CODEC_NAMES)
@settings(max_examples=120, deadline=None)
@given(key=KEYS, data=st.data())
def test_each_codec_round_trips_what_it_accepts(
    stores: dict[str, SharedStore], codec: str, key: str, data: st.DataObject
) -> None:
    value = data.draw(VALUES[codec], label="value")
    stores[codec].set(key, value)
    assert value == stores[codec].get(key)


@settings(max_examples=50, deadline=None)
@given(document=st.dictionaries(KEYS, MSGPACK_VALUES, max_size=10))
def test_save_then_load_round_trips_a_document(
    stores: dict[str, SharedStore], document: dict[str, Any]
) -> None:
    stores["msgpack"].save(document)
    assert document == stores["msgpack"].load()


@pytest.mark.parametrize("codec", ["msgpack", "pickle"])
def test_nan_round_trips_where_the_codec_carries_it(stores: dict[str, SharedStore], codec: str) -> None:
    stores[codec].set("nan", [math.nan])
    assert math.isnan(stores[codec].get("nan")[0])


def test_aware_datetimes_come_back_equal_in_utc(stores: dict[str, SharedStore]) -> None:
    moment = datetime.datetime(2024, 5, 1, 12, tzinfo=datetime.timezone(datetime.timedelta(hours=2)))
    stores["msgpack"].set("when", moment)
    back = stores["msgpack"].get("when")
    assert (moment, datetime.timezone.utc) == (back, back.tzinfo)


@pytest.mark.parametrize(
    "moment",
    [
        datetime.datetime(1, 1, 1, tzinfo=datetime.timezone(datetime.timedelta(hours=5))),
        datetime.datetime(9999, 12, 31, 23, tzinfo=datetime.timezone(-datetime.timedelta(hours=5))),
    ],
)
def test_datetime_without_a_utc_equivalent_is_refused_naming_the_key(
    stores: dict[str, SharedStore], moment: datetime.datetime
) -> None:
    with pytest.raises(UnsupportedValueError, match=r"'t'.*UTC"):
        stores["msgpack"].set("t", moment)
    assert "absent" == stores["msgpack"].get("t", "absent")


def test_extreme_utc_datetimes_round_trip(stores: dict[str, SharedStore]) -> None:
    utc = datetime.timezone.utc
    for moment in (datetime.datetime(1, 1, 1, tzinfo=utc), datetime.datetime(9999, 12, 31, 23, 59, tzinfo=utc)):
        stores["msgpack"].set("edge", moment)
        assert moment == stores["msgpack"].get("edge")


def _cyclic() -> list[Any]:
    cycle: list[Any] = []
    cycle.append(cycle)
    return cycle


def _deep(levels: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(levels):
        value = [value]
    return value


BAD_VALUES = [
    ("msgpack", (1, 2), "", "tuple"),
    ("msgpack", {"s": {1, 2}}, "['s']", "set"),
    ("msgpack", [object()], "[0]", "object"),
    ("msgpack", datetime.datetime(2024, 1, 1), "", "datetime"),
    ("msgpack", 2**64, "", "int"),
    ("msgpack", {1: "int key"}, "[1]", "int"),
    ("msgpack", bytearray(b"x"), "", "bytearray"),
    ("msgpack", _deep(300), "", "list"),
    ("msgpack", _cyclic(), "", "list"),
    ("json", b"bytes", "", "bytes"),
    ("json", {"x": math.nan}, "['x']", "float"),
    ("json", [math.inf], "[0]", "float"),
    ("json", datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc), "", "datetime"),
    ("pickle", lambda: None, "", "function"),
]


@pytest.mark.parametrize(("codec", "value", "where", "type_name"), BAD_VALUES)
def test_unsupported_value_is_refused_naming_key_and_type_and_nothing_is_written(
    stores: dict[str, SharedStore], codec: str, value: Any, where: str, type_name: str
) -> None:
    store = stores[codec]
    store.set("target", "untouched")
    with pytest.raises(UnsupportedValueError) as caught:
        store.set("target", value)
    error = caught.value
    if where:
        assert where in error.where
    assert ("target", codec, type_name) == (error.key, error.codec, error.value_type)
    assert "'target'" in str(error)
    assert type_name in str(error)
    assert "untouched" == store.get("target")


def test_unsupported_value_error_is_a_type_error(stores: dict[str, SharedStore]) -> None:
    with pytest.raises(TypeError):
        stores["msgpack"].set("k", {1, 2})


def test_plain_ints_are_stored_as_sqlite_integers(tmp_path: Path) -> None:
    """incr is one UPDATE because ints are stored natively, whatever the codec."""
    import sqlite3

    for codec in CODEC_NAMES:
        path = tmp_path / f"{codec}.db"
        with SharedStore(path, codec=codec) as store:
            store.set("n", 5)
            store.set("flag", True)
        raw = sqlite3.connect(path)
        try:
            assert [("flag", "blob"), ("n", "integer")] == raw.execute(
                "SELECT key, typeof(value) FROM kv ORDER BY key"
            ).fetchall()
        finally:
            raw.close()
