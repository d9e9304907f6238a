"""read_json(type=...): typed reads into msgspec Structs, TypedDicts, dataclasses."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import logging
import pickle
from pathlib import Path
from typing import Any, TypedDict

import msgspec
import pytest
from stalwart.fallbacks import (
    CorruptFileError,
    ReadError,
    SchemaError,
    async_read_json,
    clear_all_caches,
    get_performance_stats,
    read_json,
    write_json,
)
from stalwart.fallbacks._schema import SCHEMA_DECODER_CACHE_SIZE


class Nested(msgspec.Struct, gc=False):
    a: int
    b: str


class Row(msgspec.Struct, gc=False):
    id: int
    name: str
    score: float
    tags: list[str]
    nested: Nested


class Point(TypedDict):
    x: int
    y: int


@dataclasses.dataclass
class Event:
    name: str
    at: datetime.datetime


class Blob(msgspec.Struct):
    raw: bytes
    roles: set[str]
    day: datetime.date


def _rows(count: int) -> list[dict[str, Any]]:
    return [
        {"id": i, "name": f"user {i}", "score": i * 0.5, "tags": ["x", "y"], "nested": {"a": i, "b": f"n{i}"}}
        for i in range(count)
    ]


def test_round_trip_of_plain_dicts_into_a_list_of_nested_structs(tmp_path: Path) -> None:
    path = tmp_path / "rows.json"
    write_json(_rows(3), path)
    expected = [Row(i, f"user {i}", i * 0.5, ["x", "y"], Nested(i, f"n{i}")) for i in range(3)]
    assert expected == read_json(path, type=list[Row])


def test_a_single_struct_document(tmp_path: Path) -> None:
    write_json({"a": 7, "b": "seven"}, tmp_path / "one.json")
    assert Nested(7, "seven") == read_json(tmp_path / "one.json", type=Nested)


def test_typed_dicts_come_back_as_validated_dicts(tmp_path: Path) -> None:
    write_json([{"x": 1, "y": 2}], tmp_path / "points.json")
    points = read_json(tmp_path / "points.json", type=list[Point])
    assert [{"x": 1, "y": 2}] == points
    assert dict is type(points[0])


def test_typed_dict_missing_key_is_a_schema_error(tmp_path: Path) -> None:
    write_json([{"x": 1}], tmp_path / "points.json")
    with pytest.raises(SchemaError, match="missing required field `y`") as caught:
        read_json(tmp_path / "points.json", type=list[Point])
    assert "$[0]" == caught.value.location


def test_dataclass_with_a_datetime_field_reads_the_tagged_value(tmp_path: Path) -> None:
    at = datetime.datetime(2026, 11, 23, 12, 30, tzinfo=datetime.timezone.utc)
    write_json([{"name": "deploy", "at": at}], tmp_path / "events.json")
    assert [Event("deploy", at)] == read_json(tmp_path / "events.json", type=list[Event])


def test_tagged_values_are_restored_then_validated(tmp_path: Path) -> None:
    blob = {"raw": b"\x00\xff", "roles": {"admin", "ops"}, "day": datetime.date(2026, 11, 23)}
    write_json(blob, tmp_path / "blob.json")
    assert Blob(b"\x00\xff", {"admin", "ops"}, datetime.date(2026, 11, 23)) == read_json(
        tmp_path / "blob.json", type=Blob
    )


def test_a_tagged_value_in_a_field_of_another_type_is_a_schema_error(tmp_path: Path) -> None:
    write_json({"a": 1, "b": b"bytes, not str"}, tmp_path / "one.json")
    with pytest.raises(SchemaError) as caught:
        read_json(tmp_path / "one.json", type=Nested)
    assert "$.b" == caught.value.location


def test_schema_mismatch_names_the_file_and_the_location(tmp_path: Path) -> None:
    rows = _rows(20)
    rows[12]["score"] = "high"
    path = tmp_path / "rows.json"
    write_json(rows, path)
    with pytest.raises(SchemaError) as caught:
        read_json(path, type=list[Row])
    error = caught.value
    assert str(path) == error.path
    assert "$[12].score" == error.location
    assert "Expected `float`, got `str`" in error.reason
    assert str(path) in str(error)
    assert "$[12].score" in str(error)
    assert isinstance(error, ReadError)
    assert not isinstance(error, CorruptFileError)


def test_schema_error_pickles_with_its_location(tmp_path: Path) -> None:
    error = SchemaError(tmp_path / "x.json", "Expected `int`, got `str` - at `$[3].id`")
    copy = pickle.loads(pickle.dumps(error))
    assert "$[3].id" == copy.location
    assert str(error) == str(copy)


def test_truncated_file_is_corrupt_not_a_schema_error(tmp_path: Path) -> None:
    path = tmp_path / "rows.json"
    write_json(_rows(5), path)
    cut = len(path.read_bytes()) // 2
    path.write_bytes(path.read_bytes()[:cut])
    with pytest.raises(CorruptFileError) as caught:
        read_json(path, type=list[Row])
    assert not isinstance(caught.value, SchemaError)
    assert cut == caught.value.offset


@pytest.mark.parametrize(
    ("content", "offset"),
    [
        # msgspec meets the mismatch at $[0].a first; the file is still damaged, and that wins.
        (b'[{"a": "no", "b": "x"}, {"a": 1, ', 33),
        (b'{"a": "\xff", "b": "x"}', 7),  # invalid UTF-8 inside a field that mismatches too
    ],
)
def test_damage_behind_a_mismatch_is_reported_as_damage(tmp_path: Path, content: bytes, offset: int) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(CorruptFileError) as caught:
        read_json(path, type=list[Nested] if content.startswith(b"[") else Nested)
    assert not isinstance(caught.value, SchemaError)
    assert offset == caught.value.offset


def test_missing_file_with_a_type_is_a_read_error(tmp_path: Path) -> None:
    with pytest.raises(ReadError) as caught:
        read_json(tmp_path / "absent.json", type=list[Row])
    assert not isinstance(caught.value, SchemaError)


def test_recover_converts_the_salvage_to_the_type(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "rows.json"
    write_json([{"a": 1, "b": "one"}, {"a": 2, "b": "two"}], path, backups=0)
    content = path.read_bytes()
    path.write_bytes(content[: content.index(b',{"a":2')] + b',{"a":2,"b":"t')
    with caplog.at_level(logging.WARNING, logger="stalwart.fallbacks"):
        assert [Nested(1, "one")] == read_json(path, type=list[Nested], recover=True)
    assert "recovery" in caplog.text


def test_recover_does_not_hide_a_schema_mismatch(tmp_path: Path) -> None:
    path = tmp_path / "rows.json"
    write_json([{"a": 1, "b": "one"}], path, backups=1)
    write_json([{"a": "one", "b": "one"}], path, backups=1)  # valid JSON, wrong shape; a good backup exists
    with pytest.raises(SchemaError) as caught:
        read_json(path, type=list[Nested], recover=True)
    assert "$[0].a" == caught.value.location


def test_recovered_data_that_does_not_match_is_a_schema_error(tmp_path: Path) -> None:
    path = tmp_path / "rows.json"
    path.write_bytes(b'[{"a": "no", "b": "x"}, {"a": 1')
    with pytest.raises(SchemaError) as caught:
        read_json(path, type=list[Nested], recover=True)
    assert "$[0].a" == caught.value.location


def test_type_with_restore_types_false_is_refused(tmp_path: Path) -> None:
    write_json([{"a": 1, "b": "x"}], tmp_path / "rows.json")
    with pytest.raises(ValueError, match="restore_types"):
        read_json(tmp_path / "rows.json", type=list[Nested], restore_types=False)


def test_a_type_msgspec_cannot_decode_raises_type_error(tmp_path: Path) -> None:
    write_json([1], tmp_path / "ints.json")
    with pytest.raises(TypeError):
        read_json(tmp_path / "ints.json", type=object())


def test_a_typed_read_counts_as_a_read(tmp_path: Path) -> None:
    write_json([{"a": 1, "b": "x"}], tmp_path / "rows.json")
    before = get_performance_stats()["reads"]
    read_json(tmp_path / "rows.json", type=list[Nested])
    assert before + 1 == get_performance_stats()["reads"]


def test_equal_types_share_one_cached_decoder(tmp_path: Path) -> None:
    write_json([{"a": 1, "b": "x"}], tmp_path / "rows.json")
    read_json(tmp_path / "rows.json", type=list[Nested])
    cached = get_performance_stats()["schema_decoders_cached"]
    read_json(tmp_path / "rows.json", type=list[Nested])  # a new but equal list[Nested] alias
    assert cached == get_performance_stats()["schema_decoders_cached"]


def test_the_decoder_cache_is_bounded(tmp_path: Path) -> None:
    write_json([{"a": 1}], tmp_path / "rows.json")
    for number in range(SCHEMA_DECODER_CACHE_SIZE + 30):
        schema = msgspec.defstruct(f"Schema{number}", [("a", int)])
        assert [schema(1)] == read_json(tmp_path / "rows.json", type=list[schema])  # type: ignore[valid-type]
    assert SCHEMA_DECODER_CACHE_SIZE == get_performance_stats()["schema_decoders_cached"]
    assert SCHEMA_DECODER_CACHE_SIZE == clear_all_caches()["schema_decoders"]
    assert 0 == get_performance_stats()["schema_decoders_cached"]


def test_async_read_json_passes_the_type(tmp_path: Path) -> None:
    write_json({"a": 3, "b": "c"}, tmp_path / "one.json")
    assert Nested(3, "c") == asyncio.run(async_read_json(tmp_path / "one.json", type=Nested))
