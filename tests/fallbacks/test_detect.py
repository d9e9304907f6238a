"""CorruptionDetector parses files for real."""

from __future__ import annotations

from pathlib import Path

import pytest
from stalwart.fallbacks import CorruptionDetector, ReadError, read_json, write_csv, write_json


@pytest.mark.parametrize(
    ("name", "content", "corrupt"),
    [
        ("a.json", b'[{"a": "}"}]', False),
        ("a.json", b'[{"a": "}"}', True),
        ("a.json", b"[1] [2]", True),
        ("a.json", b"", True),
        ("a.json", b'["\xff"]', True),
        ("a.jsonl", b'{"a": 1}\n\n{"b": 2}\n', False),
        ("a.jsonl", b'{"a": 1}\n{"b": \n', True),
        ("a.csv", b"a,b\r\n1,2\r\n", False),
        ("a.csv", b"a,b\r\n1,2,3\r\n", True),
        ("a.csv", b'a,b\r\n"1,2\r\n', True),
        ("a.csv", b"a,b\r\n1,\xfe\r\n", True),
        ("a.csv", b"a,b\r\n1,22\r\n3,4", True),
        ("a.csv", b"", False),
        ("a.jsonl", b'{"n": 1}\n123', True),
        ("a.jsonl", b"", False),
        ("a.jsonl", b'{"a": 1}\n  ', False),  # a blank last line without newline holds no record
        ("a.jsonl", b'{"a": 1}\n\t\r ', False),
        ("a.json", b'{"last_file": "caf\\udce9.txt", "n": 1}', False),  # valid JSON msgspec refuses
        # Valid JSON holding a malformed tagged value: read_json / iter_jsonl refuse it, so it is damage.
        ("a.json", b'[{"$stalwart":"bytes","v":"!!"}]', True),
        ("a.json", b'[{"$stalwart":"bytes","v":"AA=="}]', False),
        ("a.json", b'{"$stalwart":"nosuchtag","v":1}', True),
        ("a.jsonl", b'{"a": 1}\n{"$stalwart":"bytes","v":"!!"}\n', True),
        ("a.jsonl", b'{"a": 1}\n{"$stalwart":"set","v":[1]}\n', False),
    ],
)
def test_detect_corruption_by_parsing(tmp_path: Path, name: str, content: bytes, corrupt: bool) -> None:
    (tmp_path / name).write_bytes(content)
    assert corrupt is CorruptionDetector.detect_corruption(tmp_path / name)


def test_inspect_reports_line_and_offset_for_jsonl(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_bytes(b'{"a": 1}\n{"b": ]\n')
    report = CorruptionDetector.inspect(tmp_path / "a.jsonl")
    assert (True, 2, 15) == (report.corrupt, report.line, report.offset)


def test_explicit_format_overrides_the_suffix(tmp_path: Path) -> None:
    (tmp_path / "data.json").write_bytes(b'{"a": 1}\n{"a": 2}\n')
    assert CorruptionDetector.detect_corruption(tmp_path / "data.json")
    assert not CorruptionDetector.detect_corruption(tmp_path / "data.json", "jsonl")


def test_files_we_wrote_are_not_corrupt(tmp_path: Path) -> None:
    write_json([{"a": {1, 2}}], tmp_path / "a.json")
    write_csv([{"a": {"b": 1}}], tmp_path / "a.csv")
    assert not CorruptionDetector.detect_corruption(tmp_path / "a.json", "json")
    assert not CorruptionDetector.detect_corruption(tmp_path / "a.csv", "csv")


def test_missing_file_is_an_error_not_a_verdict(tmp_path: Path) -> None:
    with pytest.raises(ReadError):
        CorruptionDetector.detect_corruption(tmp_path / "none.json", "json")


def test_unknown_format_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"1")
    with pytest.raises(ValueError, match="unknown format"):
        CorruptionDetector.inspect(tmp_path / "a", "xml")  # type: ignore[arg-type]


def test_inspect_reports_a_torn_last_line_where_it_starts(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_bytes(b'{"n": 1}\n123')
    report = CorruptionDetector.inspect(tmp_path / "a.jsonl")
    assert (True, 2, 9) == (report.corrupt, report.line, report.offset)
    assert "no newline" in report.reason


def test_json_lines_whose_whole_last_line_lacks_its_newline_are_not_corrupt(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_bytes(b'{"n": 1}\n{"n": 2}')
    assert not CorruptionDetector.inspect(tmp_path / "a.jsonl").corrupt


def test_csv_is_parsed_with_the_given_delimiter(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    write_csv([{"name": "Smith, J", "n": 1}, {"name": "Doe", "n": 2}], path, delimiter=";")
    assert False is CorruptionDetector.detect_corruption(path, "csv", delimiter=";")
    assert True is CorruptionDetector.detect_corruption(path)  # with ",", "Smith, J" splits the row


def test_a_delimiter_of_more_than_one_character_is_rejected(tmp_path: Path) -> None:
    write_csv([{"a": 1}], tmp_path / "a.csv")
    with pytest.raises(ValueError, match="one character"):
        CorruptionDetector.inspect(tmp_path / "a.csv", delimiter=";;")


def test_inspect_names_the_line_of_a_malformed_tagged_value_in_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_bytes(b'{"a": 1}\n{"$stalwart":"bytes","v":"!!"}\n')
    report = CorruptionDetector.inspect(path)
    assert (True, 2, 9) == (report.corrupt, report.line, report.offset)
    assert "bytes" in report.reason


def test_a_file_with_a_malformed_tagged_value_never_becomes_a_backup(tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    write_json({"v": 1}, path, backups=1)
    write_json({"v": 2}, path, backups=1)  # d.json.1 holds {"v": 1}
    path.write_bytes(b'[{"$stalwart":"bytes","v":"!!"}]')  # valid JSON that read_json refuses
    write_json({"v": 3}, path, backups=1)
    assert {"v": 1} == read_json(tmp_path / "d.json.1")
    assert {"v": 3} == read_json(path)
