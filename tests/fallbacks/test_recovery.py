"""recover_json: string-aware salvage of arrays, then JSON lines, then backups."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stalwart.fallbacks import (
    CorruptFileError,
    ReadError,
    get_performance_stats,
    recover_json,
    write_json,
)
from stalwart.fallbacks._jsonfile import encode_json

TRICKY_TEXT = st.text(alphabet='ab}{][,":\\ \n\u00e9\u2603', max_size=12)
RECORDS = st.lists(
    st.fixed_dictionaries(
        {
            "id": st.integers(min_value=-1000, max_value=10**6),
            "name": TRICKY_TEXT,
            "tags": st.lists(TRICKY_TEXT, max_size=2),
            "extra": st.one_of(st.none(), st.binary(max_size=4), st.tuples(st.integers(), TRICKY_TEXT)),
        }
    ),
    min_size=1,
    max_size=5,
)


@settings(max_examples=12, deadline=None)
@given(records=RECORDS)
def test_truncation_at_every_offset_recovers_exactly_the_complete_elements(
    tmp_path_factory: pytest.TempPathFactory, records: list[dict[str, Any]]
) -> None:
    encoded = [encode_json(record) for record in records]
    whole = b"[" + b",".join(encoded) + b"]\n"
    assert whole == encode_json(records) + b"\n"
    ends = []
    position = 1
    for piece in encoded:
        position += len(piece)
        ends.append(position)
        position += 1
    path = tmp_path_factory.getbasetemp() / "cut.json"
    for cut in range(1, len(whole) + 1):
        path.write_bytes(whole[:cut])
        report = recover_json(path)
        expected = [record for record, end in zip(records, ends, strict=True) if end <= cut]
        assert expected == report.data, f"cut at byte {cut} of {whole!r}"
        assert len(expected) == report.recovered
        assert ("intact" if cut >= len(whole) - 1 else "array") == report.method


def test_empty_file_with_no_backup_is_unrecoverable(tmp_path: Path) -> None:
    (tmp_path / "d.json").write_bytes(b"")
    with pytest.raises(CorruptFileError):
        recover_json(tmp_path / "d.json")


def test_closing_brace_inside_a_string_does_not_confuse_recovery(tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    path.write_bytes(b'[{"msg": "a } b ] c, {"}, {"msg": "x\\" }"}, {"msg": "cut }')
    report = recover_json(path)
    assert [{"msg": "a } b ] c, {"}, {"msg": 'x" }'}] == report.data
    assert 1 == report.lost


def test_damaged_middle_element_is_skipped_and_later_ones_kept(tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    path.write_bytes(b'[{"a": 1}, {"a": \x00\x01garbage}, {"a": 3}, {"a": 4}]')
    report = recover_json(path)
    assert [{"a": 1}, {"a": 3}, {"a": 4}] == report.data
    assert 1 == report.lost
    assert "array" == report.method


def test_invalid_utf8_inside_an_element_loses_only_that_element(tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    path.write_bytes(b'[{"a": "ok"}, {"a": "\xff"}, {"a": "fine"}]')
    report = recover_json(path)
    assert [{"a": "ok"}, {"a": "fine"}] == report.data


def test_json_lines_are_salvaged_line_by_line(tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    path.write_bytes(b'{"a": 1}\n{"a": 2}\n{"a": \n{"a": 4}\n')
    report = recover_json(path)
    assert [{"a": 1}, {"a": 2}, {"a": 4}] == report.data
    assert ("jsonl", 1) == (report.method, report.lost)


def test_falls_back_to_the_newest_valid_backup(tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    write_json({"v": 1}, path, backups=2)
    write_json({"v": 2}, path, backups=2)
    write_json({"v": 3}, path, backups=2)
    Path(f"{path}.1").write_bytes(b"{damaged")
    path.write_bytes(b'{"v": 4, "cut')
    before = get_performance_stats()["recoveries"]
    report = recover_json(path)
    assert {"v": 1} == report.data
    assert ("backup", f"{path}.2") == (report.method, report.source)
    assert before + 1 == get_performance_stats()["recoveries"]


def test_missing_file_uses_a_backup(tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    write_json([1], path, backups=1)
    write_json([2], path, backups=1)
    path.unlink()
    assert [1] == recover_json(path).data


def test_missing_file_without_backup_is_a_read_error(tmp_path: Path) -> None:
    with pytest.raises(ReadError):
        recover_json(tmp_path / "none.json")


def test_intact_file_is_reported_intact(tmp_path: Path) -> None:
    write_json({"a": (1, 2)}, tmp_path / "d.json")
    report = recover_json(tmp_path / "d.json")
    assert ({"a": (1, 2)}, "intact", 0) == (report.data, report.method, report.lost)


def test_json_lines_of_arrays_are_not_mistaken_for_one_array(tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    path.write_bytes(b"[1, 2]\n[3, 4]\n")
    report = recover_json(path)
    assert ([[1, 2], [3, 4]], "jsonl") == (report.data, report.method)


def test_an_array_with_trailing_garbage_keeps_the_array(tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    path.write_bytes(b"[1, 2]\ngarbage")
    report = recover_json(path)
    assert ([1, 2], "array") == (report.data, report.method)
