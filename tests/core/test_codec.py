from __future__ import annotations

import logging
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stalwart.core import (
    Record,
    RecordDecodeError,
    StalwartError,
    decode_batch,
    decode_jsonl,
    encode_batch,
    encode_jsonl,
    iter_jsonl,
)

_INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
_TEXT = st.text()  # any unicode, including empty strings, surrogate-free

json_scalars = (
    st.none() | st.booleans() | _INT64 | st.floats(allow_nan=False, allow_infinity=False) | _TEXT
)
json_values: st.SearchStrategy[Any] = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(_TEXT, children, max_size=5),
    max_leaves=25,
)

records: st.SearchStrategy[Record] = st.builds(
    Record,
    ts_ns=st.integers(min_value=0, max_value=2**63 - 1),
    level=st.sampled_from([5, 10, 20, 30, 40, 50]) | st.integers(min_value=0, max_value=100),
    logger=_TEXT,
    message=_TEXT,
    kind=st.sampled_from(["log", "heartbeat", "event", "metric"]),
    pid=st.integers(min_value=0, max_value=2**31),
    process=_TEXT,
    thread=st.integers(min_value=0, max_value=2**64 - 1),
    thread_name=_TEXT,
    host=_TEXT,
    seq=st.integers(min_value=0, max_value=2**63 - 1),
    module=st.none() | _TEXT,
    func=st.none() | _TEXT,
    line=st.none() | st.integers(min_value=0, max_value=2**31),
    path=st.none() | _TEXT,
    exc=st.none() | _TEXT,
    stack=st.none() | _TEXT,
    correlation_id=st.none() | _TEXT,
    extra=st.dictionaries(_TEXT, json_values, max_size=6),
)


def _sample(n: int = 3) -> list[Record]:
    return [
        Record.create(
            logging.INFO,
            f"app.{i}",
            f"message {i} \u00e9\U0001f600",
            seq=i,
            extra={"i": i, "tags": ["a", "b"]},
        )
        for i in range(n)
    ]


@given(st.lists(records, max_size=8))
@settings(max_examples=150)
def test_any_batch_survives_msgpack_unchanged(batch: list[Record]) -> None:
    assert batch == decode_batch(encode_batch(batch))


@given(records)
@settings(max_examples=150)
def test_any_record_survives_json_unchanged(record: Record) -> None:
    assert record == Record.from_json(record.to_json())


@given(st.lists(records, max_size=8))
@settings(max_examples=100)
def test_any_batch_survives_json_lines_unchanged(batch: list[Record]) -> None:
    data = encode_jsonl(batch)
    assert len(batch) == data.count(b"\n")
    assert batch == decode_jsonl(data)


def test_huge_message_and_empty_strings_round_trip() -> None:
    huge = Record(ts_ns=1, level=20, logger="", message="\u2603" * 3_000_000, extra={"": ""})
    assert [huge] == decode_batch(encode_batch([huge]))
    assert huge == Record.from_json(huge.to_json())


def test_encode_batch_accepts_any_iterable() -> None:
    batch = _sample()
    assert batch == decode_batch(encode_batch(iter(batch)))
    assert [] == decode_batch(encode_batch([]))


def test_every_truncation_of_a_valid_batch_raises_record_decode_error() -> None:
    data = encode_batch(_sample(4))
    for cut in range(len(data)):
        with pytest.raises(RecordDecodeError) as info:
            decode_batch(data[:cut])
        assert isinstance(info.value, StalwartError)
        assert info.value.offset is not None, f"cut at {cut}: no offset in {info.value}"
        assert info.value.offset <= cut


def test_garbage_bytes_raise_with_reason() -> None:
    with pytest.raises(RecordDecodeError, match="cannot decode records"):
        decode_batch(b"\xc1\xc1\xc1 not msgpack")


def test_trailing_bytes_after_a_batch_raise() -> None:
    with pytest.raises(RecordDecodeError):
        decode_batch(encode_batch(_sample(1)) + b"\x00")


def test_wrong_schema_names_the_record_and_its_byte_offset() -> None:
    good = _sample(2)
    # A valid msgpack list whose third element is a map missing the required "message" field.
    bad_element: dict[str, Any] = {"ts_ns": 1, "level": 20, "logger": "x"}
    data = msgspec.msgpack.encode([*good, bad_element])
    with pytest.raises(RecordDecodeError) as info:
        decode_batch(data)
    assert 2 == info.value.index
    prefix = msgspec.msgpack.encode(good)
    # 2 and 3 elements share a 1-byte fixarray header: the third starts right after the first two.
    assert len(prefix) == info.value.offset
    assert "message" in info.value.reason


def test_wrong_field_type_is_rejected() -> None:
    data = msgspec.msgpack.encode([{"ts_ns": "now", "level": 20, "logger": "x", "message": "m"}])
    with pytest.raises(RecordDecodeError, match="ts_ns"):
        decode_batch(data)


def test_unknown_kind_is_rejected() -> None:
    data = msgspec.json.encode(
        {"ts_ns": 1, "level": 20, "logger": "x", "message": "m", "kind": "gossip"}
    )
    with pytest.raises(RecordDecodeError, match="kind"):
        Record.from_json(data)


def test_from_json_reports_byte_offset_of_malformed_json() -> None:
    with pytest.raises(RecordDecodeError) as info:
        Record.from_json(b'{"ts_ns": 1, "level": }')
    assert info.value.offset is not None


def test_iter_jsonl_names_the_bad_line_and_skips_blank_lines() -> None:
    good = encode_jsonl(_sample(2)).splitlines()
    lines = [good[0], b"", good[1], b"{not json"]
    seen = []
    with pytest.raises(RecordDecodeError) as info:  # noqa: PT012 - the records before the bad line must arrive
        for record in iter_jsonl(lines):
            seen.append(record)
    assert 2 == len(seen)
    assert 4 == info.value.index
    assert "line 4" in str(info.value)


def test_newlines_in_messages_never_split_a_json_line() -> None:
    record = Record(ts_ns=1, level=20, logger="x", message="one\ntwo\r\nthree")
    assert 1 == encode_jsonl([record]).count(b"\n")
