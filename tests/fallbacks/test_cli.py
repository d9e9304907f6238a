"""The ``stalwart files`` CLI group."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from stalwart.fallbacks import read_csv, read_json, write_csv, write_json
from stalwart.fallbacks._cli import files


def test_check_valid_and_corrupt_files(tmp_path: Path) -> None:
    write_json([1], tmp_path / "ok.json")
    (tmp_path / "bad.json").write_bytes(b"[1, 2")
    runner = CliRunner()
    ok = runner.invoke(files, ["check", str(tmp_path / "ok.json")])
    bad = runner.invoke(files, ["check", str(tmp_path / "bad.json")])
    missing = runner.invoke(files, ["check", str(tmp_path / "none.json")])
    assert (0, 1, 2) == (ok.exit_code, bad.exit_code, missing.exit_code)
    assert "byte 5" in bad.output


def test_recover_writes_the_salvage(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_bytes(b'[{"a": 1}, {"a": 2}, {"a"')
    result = CliRunner().invoke(
        files, ["recover", str(tmp_path / "bad.json"), "-o", str(tmp_path / "out.json")]
    )
    assert 0 == result.exit_code, result.output
    assert [{"a": 1}, {"a": 2}] == read_json(tmp_path / "out.json")


def test_recover_to_stdout_and_nothing_recovered_fails(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_bytes(b'[{"a": 1}, {"a"')
    (tmp_path / "empty.json").write_bytes(b"")
    runner = CliRunner()
    result = runner.invoke(files, ["recover", str(tmp_path / "bad.json")])
    assert 0 == result.exit_code
    assert '"a": 1' in result.output
    assert 1 == runner.invoke(files, ["recover", str(tmp_path / "empty.json")]).exit_code


def test_convert_json_to_csv_to_jsonl_and_back(tmp_path: Path) -> None:
    records = [{"id": "1", "nested": {"a": "x"}}, {"id": "2", "nested": {"a": "y"}}]
    write_json(records, tmp_path / "in.json")
    runner = CliRunner()
    assert (
        0 == runner.invoke(files, ["convert", str(tmp_path / "in.json"), str(tmp_path / "mid.csv")]).exit_code
    )
    assert (
        0
        == runner.invoke(files, ["convert", str(tmp_path / "mid.csv"), str(tmp_path / "mid.jsonl")]).exit_code
    )
    result = runner.invoke(files, ["convert", str(tmp_path / "mid.jsonl"), str(tmp_path / "out.json")])
    assert 0 == result.exit_code, result.output
    assert records == read_json(tmp_path / "out.json")


def test_convert_of_a_damaged_source_fails_without_writing(tmp_path: Path) -> None:
    (tmp_path / "in.json").write_bytes(b"[1,")
    result = CliRunner().invoke(files, ["convert", str(tmp_path / "in.json"), str(tmp_path / "out.csv")])
    assert 1 == result.exit_code
    assert not (tmp_path / "out.csv").exists()


def test_check_and_convert_take_the_csv_delimiter(tmp_path: Path) -> None:
    write_csv([{"name": "Smith, J", "n": 1}], tmp_path / "a.csv", delimiter=";")
    runner = CliRunner()
    checked = runner.invoke(files, ["check", str(tmp_path / "a.csv"), "--delimiter", ";"])
    assert 0 == checked.exit_code, checked.output
    converted = runner.invoke(
        files, ["convert", str(tmp_path / "a.csv"), str(tmp_path / "a.json"), "--delimiter", ";"]
    )
    assert 0 == converted.exit_code, converted.output
    assert [{"name": "Smith, J", "n": "1"}] == read_json(tmp_path / "a.json")


def test_recover_of_an_intact_empty_array_succeeds_and_writes_it(tmp_path: Path) -> None:
    write_json([], tmp_path / "empty.json")
    result = CliRunner().invoke(
        files, ["recover", str(tmp_path / "empty.json"), "-o", str(tmp_path / "out.json")]
    )
    assert 0 == result.exit_code, result.output
    assert [] == read_json(tmp_path / "out.json")


def test_recover_writes_the_format_the_output_suffix_names(tmp_path: Path) -> None:
    (tmp_path / "d.jsonl").write_bytes(b'{"a": 1}\n{"a": 2}\n{"a": 3')
    runner = CliRunner()
    to_jsonl = runner.invoke(files, ["recover", str(tmp_path / "d.jsonl"), "-o", str(tmp_path / "fixed.jsonl")])
    to_csv = runner.invoke(files, ["recover", str(tmp_path / "d.jsonl"), "-o", str(tmp_path / "fixed.csv")])
    assert (0, 0) == (to_jsonl.exit_code, to_csv.exit_code), to_jsonl.output + to_csv.output
    assert b'{"a":1}\n{"a":2}\n' == (tmp_path / "fixed.jsonl").read_bytes()
    assert [{"a": "1"}, {"a": "2"}] == read_csv(tmp_path / "fixed.csv")


def test_recover_of_an_object_to_json_lines_fails_without_writing(tmp_path: Path) -> None:
    write_json({"a": 1}, tmp_path / "d.json")
    result = CliRunner().invoke(files, ["recover", str(tmp_path / "d.json"), "-o", str(tmp_path / "out.jsonl")])
    assert 2 == result.exit_code
    assert not (tmp_path / "out.jsonl").exists()


def test_convert_refuses_a_line_end_or_quote_as_delimiter_without_writing(tmp_path: Path) -> None:
    write_json([{"a": 1}], tmp_path / "in.json")
    runner = CliRunner()
    for delimiter in ("\n", '"'):
        result = runner.invoke(
            files, ["convert", str(tmp_path / "in.json"), str(tmp_path / "out.csv"), "--delimiter", delimiter]
        )
        assert 2 == result.exit_code, result.output
    assert not (tmp_path / "out.csv").exists()


def test_recover_from_a_valid_empty_backup_succeeds_and_writes_it(tmp_path: Path) -> None:
    path = tmp_path / "q.json"
    write_json([], path, backups=1)
    write_json([], path, backups=1)
    path.write_bytes(b'[{"jo')
    result = CliRunner().invoke(files, ["recover", str(path), "-o", str(tmp_path / "out.json")])
    assert 0 == result.exit_code, result.output
    assert [] == read_json(tmp_path / "out.json")


def test_recover_with_to_but_no_output_is_a_usage_error(tmp_path: Path) -> None:
    write_json([{"a": 1}], tmp_path / "d.json")
    result = CliRunner().invoke(files, ["recover", str(tmp_path / "d.json"), "--to", "csv"])
    assert 2 == result.exit_code
    assert "--to needs -o" in result.output


def test_check_of_a_file_nested_too_deeply_reports_it_corrupt_without_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_bytes(b"[" * 100_000 + b"]" * 100_000)
    result = CliRunner().invoke(files, ["check", str(path)])
    assert 1 == result.exit_code, result.output
    assert "nested too deeply" in result.output


def test_check_reports_a_malformed_tagged_value_that_read_json_refuses(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(b'[{"$stalwart":"bytes","v":"!!"}]')
    result = CliRunner().invoke(files, ["check", str(path)])
    assert 1 == result.exit_code, result.output
    assert "corrupt" in result.output


def test_recover_refuses_to_write_over_the_damaged_file_itself(tmp_path: Path) -> None:
    damaged = b'[{"a": 1}, {"a": 2}, {"a" 3}, {"a": 4}]'
    path = tmp_path / "bad.json"
    path.write_bytes(damaged)
    (tmp_path / "link.json").symlink_to(path)
    os.link(path, tmp_path / "hard.json")
    runner = CliRunner()
    for output in (path, tmp_path / "link.json", tmp_path / "hard.json", tmp_path / "." / "bad.json"):
        result = runner.invoke(files, ["recover", str(path), "-o", str(output)])
        assert 2 == result.exit_code, result.output
        assert "itself" in result.output
    assert damaged == path.read_bytes()
    assert not (tmp_path / "bad.json.1").exists()


@pytest.mark.parametrize("records", [[{}, {}], [1, 2], [{"a": 1}, "b"]])
def test_convert_of_records_csv_cannot_hold_is_an_error_without_a_traceback(
    tmp_path: Path, records: list[Any]
) -> None:
    write_json(records, tmp_path / "in.json")
    result = CliRunner().invoke(files, ["convert", str(tmp_path / "in.json"), str(tmp_path / "out.csv")])
    assert 1 == result.exit_code, result.output
    assert isinstance(result.exception, SystemExit)  # no traceback
    assert "error:" in result.output
    assert "Usage:" not in result.output
    assert not (tmp_path / "out.csv").exists()


def test_convert_of_a_json_object_is_an_error_not_a_usage_error(tmp_path: Path) -> None:
    write_json({"a": 1}, tmp_path / "in.json")
    result = CliRunner().invoke(files, ["convert", str(tmp_path / "in.json"), str(tmp_path / "out.jsonl")])
    assert 1 == result.exit_code, result.output
    assert "not an array of records" in result.output
    assert "Usage:" not in result.output


def test_recover_of_records_csv_cannot_hold_is_an_error_without_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_bytes(b"[{}, {}, {")
    result = CliRunner().invoke(files, ["recover", str(tmp_path / "bad.json"), "-o", str(tmp_path / "out.csv")])
    assert 2 == result.exit_code, result.output
    assert isinstance(result.exception, SystemExit)
    assert "no column" in result.output
    assert not (tmp_path / "out.csv").exists()
