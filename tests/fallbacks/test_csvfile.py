"""The CSV API (_csvfile): flattening scheme, strict reading."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stalwart.fallbacks import (
    CorruptFileError,
    CorruptionDetector,
    UnsupportedTypeError,
    clear_all_caches,
    iter_jsonl,
    read_csv,
    read_json,
    write_csv,
    write_json,
)
from stalwart.fallbacks._csvfile import escape_key, flatten_row, split_column, unflatten_row


def test_nested_dicts_are_flattened_and_restored(tmp_path: Path) -> None:
    rows = [
        {"id": "1", "nested": {"a": "x", "b": {"c": "y"}}},
        {"id": "2", "nested": {"a": "z", "b": {"c": ""}}},
    ]
    write_csv(rows, tmp_path / "d.csv")
    assert "id,nested.a,nested.b.c" == (tmp_path / "d.csv").read_text().splitlines()[0]
    assert rows == read_csv(tmp_path / "d.csv")


def test_keys_with_dots_and_backslashes_survive(tmp_path: Path) -> None:
    rows = [{"a.b": "1", "c\\d": {"e.f": "2"}}]
    write_csv(rows, tmp_path / "d.csv")
    assert rows == read_csv(tmp_path / "d.csv")


@given(keys=st.lists(st.text(alphabet="ab.\\", max_size=5), min_size=1, max_size=4))
def test_escaped_columns_split_back_into_the_same_keys(keys: list[str]) -> None:
    assert keys == split_column(".".join(escape_key(key) for key in keys))


def test_cells_are_text_and_convert_restores_types(tmp_path: Path) -> None:
    write_csv([{"id": 7, "ok": True, "score": 1.5, "none": None, "tags": ["a", "b"]}], tmp_path / "d.csv")
    (row,) = read_csv(tmp_path / "d.csv", convert={"id": int, "score": float})
    assert {"id": 7, "ok": "true", "score": 1.5, "none": "", "tags": '["a","b"]'} == row


def test_unsupported_value_in_a_row_names_row_and_key(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedTypeError) as caught:
        write_csv([{"a": 1}, {"b": {"c": object()}}], tmp_path / "d.csv")
    assert "$[1]['b']['c']" == caught.value.value_path


def test_unflatten_conflict_with_empty_cell_is_ignored() -> None:
    assert {"a": {"b": "1"}} == unflatten_row({"a": "", "a.b": "1"})


def test_unflatten_conflict_of_two_values_is_corruption() -> None:
    with pytest.raises(CorruptFileError):
        unflatten_row({"a": "x", "a.b": "1"})


def test_flatten_keeps_empty_dict_as_json_text() -> None:
    assert {"a": "{}"} == flatten_row({"a": {}})


@pytest.mark.parametrize(
    ("content", "line"),
    [(b"a,b\r\n1,2\r\n3\r\n", 3), (b'a,b\r\n"1,2\r\n', 2), (b'a,b\r\n1,"x"y\r\n', 2)],
)
def test_damaged_csv_raises_with_line(tmp_path: Path, content: bytes, line: int) -> None:
    (tmp_path / "d.csv").write_bytes(content)
    with pytest.raises(CorruptFileError) as caught:
        read_csv(tmp_path / "d.csv")
    assert line == caught.value.line


def test_undecodable_bytes_in_csv_report_the_offset(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_bytes(b"a,b\r\n1,\xff\r\n")
    with pytest.raises(CorruptFileError) as caught:
        read_csv(tmp_path / "d.csv")
    assert 7 == caught.value.offset


def test_empty_csv_reads_as_no_rows(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_bytes(b"")
    assert [] == read_csv(tmp_path / "d.csv")


def test_explicit_fieldnames_reject_extra_columns(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="b"):
        write_csv([{"a": 1, "b": 2}], tmp_path / "d.csv", fieldnames=["a"])


def test_csv_backups_rotate(tmp_path: Path) -> None:
    rows: list[dict[str, Any]] = [{"a": "1"}]
    write_csv(rows, tmp_path / "d.csv")
    write_csv([{"a": "2"}], tmp_path / "d.csv")
    assert rows == read_csv(f"{tmp_path / 'd.csv'}.1")


def test_read_csv_refuses_a_file_cut_in_its_last_field(tmp_path: Path) -> None:
    path = tmp_path / "scores.csv"
    write_csv([{"id": 1, "score": 250}], path)
    path.write_bytes(path.read_bytes()[:-4])
    with pytest.raises(CorruptFileError, match="no newline") as caught:
        read_csv(path)
    assert 2 == caught.value.line


def test_csv_cut_in_its_last_field_never_replaces_a_good_backup(tmp_path: Path) -> None:
    path = tmp_path / "scores.csv"
    write_csv([{"id": 1, "score": 100}], path, backups=1)
    write_csv([{"id": 1, "score": 250}], path, backups=1)
    path.write_bytes(path.read_bytes()[:-4])
    write_csv([{"id": 1, "score": 300}], path, backups=1)
    assert [{"id": "1", "score": "100"}] == read_csv(f"{path}.1")


def test_write_csv_refuses_a_lone_surrogate_with_a_typed_error_naming_where_it_is(tmp_path: Path) -> None:
    name = b"caf\xe9.txt".decode("utf-8", "surrogateescape")  # what os.listdir gives for it
    with pytest.raises(UnsupportedTypeError, match="lone surrogate") as caught:
        write_csv([{"f": "ok"}, {"f": name}], tmp_path / "d.csv")
    assert "$[1]['f']" == caught.value.value_path
    assert not (tmp_path / "d.csv").exists()


def test_a_nested_column_before_a_plain_value_under_the_same_key_reads_back(tmp_path: Path) -> None:
    rows: list[dict[str, Any]] = [{"a": {"b": "2"}}, {"a": "1"}]
    write_csv(rows, tmp_path / "d.csv")
    assert b"a.b,a\r\n2,\r\n,1\r\n" == (tmp_path / "d.csv").read_bytes()
    assert rows == read_csv(tmp_path / "d.csv")


def _without_empty_cells(value: Any) -> Any:
    """Drop the empty cells CSV adds for keys a row does not have."""
    if not isinstance(value, dict):
        return value
    pruned = {key: _without_empty_cells(item) for key, item in value.items() if item != ""}
    return {key: item for key, item in pruned.items() if item != {}}


_KEYS = st.text(alphabet="ab.\\", max_size=3)
_CELLS = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=8)
_NESTED = st.recursive(_CELLS, lambda inner: st.dictionaries(_KEYS, inner, min_size=1, max_size=3), max_leaves=6)


@given(rows=st.lists(st.dictionaries(_KEYS, _NESTED, min_size=1, max_size=4), min_size=1, max_size=4))
def test_rows_of_text_and_nested_dicts_round_trip_through_write_and_read(
    tmp_path_factory: pytest.TempPathFactory, rows: list[dict[str, Any]]
) -> None:
    path = tmp_path_factory.mktemp("rt") / "d.csv"
    write_csv(rows, path, durable=False)
    assert rows == [_without_empty_cells(row) for row in read_csv(path)]


def test_csv_with_another_delimiter_becomes_a_backup_when_written_again(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    write_csv([{"name": "Smith, J", "n": 1}], path, delimiter=";")
    clear_all_caches()  # as if another process wrote it: the file itself is validated
    write_csv([{"name": "Doe", "n": 2}], path, delimiter=";", backups=1)
    assert [{"name": "Smith, J", "n": "1"}] == read_csv(Path(f"{path}.1"), delimiter=";")


def test_rows_without_any_column_are_refused_not_written_as_blank_lines(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no column"):
        write_csv([{}, {}], tmp_path / "d.csv")
    assert not (tmp_path / "d.csv").exists()


def test_fieldnames_naming_a_column_twice_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="more than once"):
        write_csv([{"a": 1}], tmp_path / "d.csv", fieldnames=["a", "a"])


def test_a_header_with_a_column_twice_is_corruption(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_bytes(b"a,a\r\n1,2\r\n")
    with pytest.raises(CorruptFileError, match="twice") as caught:
        read_csv(path)
    assert 1 == caught.value.line
    assert True is CorruptionDetector.detect_corruption(path)


def test_nan_null_writes_an_empty_cell_as_none_does(tmp_path: Path) -> None:
    write_csv([{"x": float("nan"), "y": None, "z": complex(0, float("inf"))}], tmp_path / "d.csv", nan="null")
    assert b"x,y,z\r\n,,\r\n" == (tmp_path / "d.csv").read_bytes()


@pytest.mark.parametrize("delimiter", ['"', "\n", "\r"])
def test_a_delimiter_no_reader_can_split_is_refused_before_anything_is_written(
    tmp_path: Path, delimiter: str
) -> None:
    path = tmp_path / "d.csv"
    write_csv([{"a": "1", "b": "2"}], path, delimiter=";")
    with pytest.raises(ValueError, match="quote character or a line end"):
        write_csv([{"name": "Smith, J", "note": 'say "hi"'}], path, delimiter=delimiter)
    with pytest.raises(ValueError, match="quote character or a line end"):
        read_csv(path, delimiter=delimiter)
    assert b"a;b\r\n1;2\r\n" == path.read_bytes()
    assert not (tmp_path / "d.csv.1").exists()


def test_a_delimiter_of_two_characters_is_the_documented_value_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="one character"):
        write_csv([{"a": "1"}], tmp_path / "d.csv", delimiter=";;")
    assert not (tmp_path / "d.csv").exists()


@pytest.mark.parametrize("header", [b"a,\\a", b"a\\\\,a\\"])
def test_two_header_columns_naming_the_same_key_are_corruption(tmp_path: Path, header: bytes) -> None:
    path = tmp_path / "d.csv"
    path.write_bytes(header + b"\r\n1,2\r\n")
    with pytest.raises(CorruptFileError, match="name the same key") as caught:
        read_csv(path)
    assert 1 == caught.value.line
    assert [{header.decode().split(",")[0]: "1", header.decode().split(",")[1]: "2"}] == read_csv(
        path, unflatten=False
    )


@pytest.mark.parametrize(
    ("old", "new"),
    [(",", ";"), (";", ","), ("\t", "|")],
    ids=["comma-to-semicolon", "semicolon-to-comma", "tab-to-pipe"],
)
def test_a_csv_file_written_with_another_delimiter_still_becomes_a_backup(tmp_path: Path, old: str, new: str) -> None:
    path = tmp_path / "d.csv"
    rows: list[dict[str, Any]] = [
        {"name": "Smith, J", "note": "a;b", "n": "1"},  # each cell holds the other delimiter
        {"name": "Doe", "note": "", "n": "2"},
    ]
    write_csv(rows, path, delimiter=old)
    write_csv([{"name": "New", "note": "", "n": "3"}], path, delimiter=new, backups=1)
    assert rows == read_csv(Path(f"{path}.1"), delimiter=old)


def test_a_ragged_csv_file_never_becomes_a_backup_when_written_again_with_its_delimiter(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    write_csv([{"a": "1", "b": "2"}], path, backups=1)
    write_csv([{"a": "3", "b": "4"}], path, backups=1)
    # Ragged under ","; under a new ";" it would read as a valid one-column file (a documented limit).
    path.write_bytes(b"a,b\r\n3,4,5\r\n")
    write_csv([{"a": "6", "b": "7"}], path, backups=1)
    assert [{"a": "1", "b": "2"}] == read_csv(f"{path}.1")


def test_a_decimal_comma_file_ragged_under_its_own_delimiter_never_replaces_a_good_backup(tmp_path: Path) -> None:
    path = tmp_path / "prices.csv"
    rows: list[dict[str, Any]] = [{"Name": "Anna", "Preis, EUR": "3,50"}, {"Name": "Bob", "Preis, EUR": "4,20"}]
    write_csv(rows, path, delimiter=";", backups=1)
    write_csv(rows, path, delimiter=";", backups=1)
    # One lost ";": ragged under ";", yet every row is two fields under "," (the decimal commas).
    path.write_bytes(b"Name;Preis, EUR\r\nAnna;3,50\r\nBob4,20\r\n")
    write_csv([{"Name": "Cleo", "Preis, EUR": "1,00"}], path, delimiter=";", backups=1)
    assert rows == read_csv(Path(f"{path}.1"), delimiter=";")


def test_a_file_that_lost_a_delimiter_is_judged_under_its_own_when_written_again_with_it(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    rows: list[dict[str, Any]] = [{"a|b": "1|2", "c": "3", "d": "4"}]
    write_csv(rows, path, delimiter=";", backups=1)
    write_csv(rows, path, delimiter=";", backups=1)
    # A lost ";": ragged under ";", yet two fields a row under "|" (which a new "," would try: a documented limit).
    path.write_bytes(b"a|b;c;d\r\n1|2;34\r\n")
    write_csv([{"x": "5", "y": "6"}], path, delimiter=";", backups=1)
    assert rows == read_csv(Path(f"{path}.1"), delimiter=";")


def _rotated(
    path: Path, rows: list[dict[str, Any]], first: str, then: str, *, recorded: bool = False
) -> tuple[bytes, bytes | None]:
    """Write ``rows`` with ``first``, then (as a new process would) with ``then``; return the file and ``.1``.

    Unless ``recorded``, the record of the first write's delimiter is wiped, as for a file another
    tool (or an older version) wrote: the second write then judges the file by its bytes alone.
    """
    write_csv(rows, path, delimiter=first, backups=0)
    written = path.read_bytes()
    if not recorded:
        Path(f"{path}.lock").write_bytes(b"")
    clear_all_caches()  # else our own write is remembered as valid and the file is never checked
    write_csv([{"other": "row"}], path, delimiter=then, backups=1)
    backup = Path(f"{path}.1")
    return written, backup.read_bytes() if backup.exists() else None


@pytest.mark.parametrize(
    ("rows", "delimiter"),
    [
        ([{"Preis, EUR": "3"}, {"Preis, EUR": "4"}], ";"),
        ([{"Name; Vorname": "Bob"}, {"Name; Vorname": "Al"}], ","),
        ([{"a|b": "1"}, {"a|b": "2"}], ","),
        ([{"a\tb": "1"}], ","),
        ([{"n": {"a;b": 1}}], ","),
        ([{"Name": "Anna", "Preis, EUR": "3,50"}, {"Name": "Bob", "Preis, EUR": "4,20"}], ";"),
        ([{"id": "1", "score": "2.5"}], ","),
    ],
    ids=[
        "one-column-comma-in-header",
        "one-column-semicolon",
        "one-column-pipe",
        "one-column-tab",
        "nested",
        "euro",
        "plain",
    ],
)
def test_a_valid_csv_file_becomes_a_backup_when_written_again_with_its_delimiter(
    tmp_path: Path, rows: list[dict[str, Any]], delimiter: str
) -> None:
    written, backup = _rotated(tmp_path / "d.csv", rows, delimiter, delimiter)
    assert written == backup


def test_a_one_column_csv_file_is_backed_up_by_each_new_process_writing_it(tmp_path: Path) -> None:
    path = tmp_path / "prices.csv"
    script = tmp_path / "job.py"
    script.write_text(
        "import sys\nfrom stalwart.fallbacks import write_csv\n"
        "write_csv([{'Preis, EUR': sys.argv[2]}], sys.argv[1], delimiter=';', backups=1)\n"
    )
    for value in ("3", "4"):  # two runs of a job, each its own process
        subprocess.run([sys.executable, str(script), str(path), value], check=True, timeout=60)
    assert b"Preis, EUR\r\n3\r\n" == Path(f"{path}.1").read_bytes()


@pytest.mark.parametrize(
    ("rows", "old", "new"),
    [
        ([{"Name, first": "Bob", "Name, last": "Smith", "Age": "3"}], "\t", ";"),  # tab and "," tie at 3 fields
        ([{"Name, first": "Bob", "Name, last": "Smith", "Age": "3"}], "\t", "|"),
    ],
    ids=["tie-to-semicolon", "tie-to-pipe"],
)
def test_a_csv_file_written_with_another_delimiter_is_backed_up_under_the_candidate_it_round_trips_under(
    tmp_path: Path, rows: list[dict[str, Any]], old: str, new: str
) -> None:
    path = tmp_path / "d.csv"
    written, backup = _rotated(path, rows, old, new)
    assert written == backup
    assert rows == read_csv(Path(f"{path}.1"), delimiter=old)


@pytest.mark.parametrize(
    ("rows", "old", "damaged", "new"),
    [
        ([{"a": "1", "b": "2"}], ",", b"a,b\r\n3,4,5\r\n", ";"),
        ([{"id": "1", "name": "x", "score": "2"}], ",", b"id,name,score\r\n1,x,2\r\n2,y\r\n3,z,4\r\n", "|"),
        ([{"id": "1", "name": "x", "score": "2"}], "\t", b"id\tname\tscore\r\n1\tx2\r\n", ","),
        # Lost a ";": reads as a valid two-column "|" file, but ";" splits the header most.
        ([{"a|b": "1|2", "c": "3", "d": "4"}], ";", b"a|b;c;d\r\n1|2;34\r\n", ","),
    ],
    ids=["ragged-to-semicolon", "ragged-to-pipe", "lost-tab-to-comma", "lost-semicolon-reads-as-pipe"],
)
def test_a_damaged_csv_file_never_replaces_a_good_backup_when_the_delimiter_changes(
    tmp_path: Path, rows: list[dict[str, Any]], old: str, damaged: bytes, new: str
) -> None:
    # Under a delimiter the file never holds, any ragged file reads as one valid column.
    path = tmp_path / "d.csv"
    write_csv(rows, path, delimiter=old, backups=1)
    write_csv(rows, path, delimiter=old, backups=1)
    good = Path(f"{path}.1").read_bytes()
    path.write_bytes(damaged)
    clear_all_caches()
    write_csv([{"x": "5", "y": "6"}], path, delimiter=new, backups=1)
    assert good == Path(f"{path}.1").read_bytes()


@pytest.mark.parametrize(
    "damage",
    [lambda raw: b"\x00" * 8 + raw[8:], lambda raw: raw.replace(b"Name;P", b'Name;"', 1)],
    ids=["first-8-bytes-zeroed", "quote-over-a-letter"],
)
def test_a_damaged_header_never_sends_a_semicolon_file_to_the_comma_rule_and_over_a_good_backup(
    tmp_path: Path, damage: Callable[[bytes], bytes]
) -> None:
    path = tmp_path / "prices.csv"
    rows: list[dict[str, Any]] = [{"Name": "Anna", "Preis, EUR": "3,50"}, {"Name": "Bob", "Preis, EUR": "4,20"}]
    write_csv(rows, path, delimiter=";", backups=1)
    write_csv(rows, path, delimiter=";", backups=1)
    good = path.read_bytes()
    path.write_bytes(damage(good))  # both still parse as 2-column CSV under ","
    clear_all_caches()
    write_csv([{"Name": "Cleo", "Preis, EUR": "1,00"}], path, delimiter=";", backups=1)
    assert good == Path(f"{path}.1").read_bytes()


def test_a_csv_file_holding_a_nul_byte_is_never_backed_up(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    write_csv([{"a": "1", "b": "2"}], path, backups=1)
    write_csv([{"a": "3", "b": "4"}], path, backups=1)
    path.write_bytes(b"a,b\r\n3,\x00\r\n")  # a zeroed byte: still two fields a row
    write_csv([{"a": "5", "b": "6"}], path, backups=1)
    assert [{"a": "1", "b": "2"}] == read_csv(f"{path}.1")


@pytest.mark.parametrize(
    ("rows", "old", "new"),
    [
        ([{"Preis, EUR": "3,50"}, {"Preis, EUR": "4"}], ";", ";"),  # rule 4 alone reads it as damaged
        ([{"size|w|h": "1x2", "name": "a"}], ",", ";"),  # "|" splits the header widest, but is ragged
        ([{"Preis, EUR": "3,50"}, {"Preis, EUR": "4"}], ";", "|"),
    ],
    ids=["one-column-same-delimiter", "widest-is-ragged", "one-column-to-pipe"],
)
def test_the_delimiter_a_write_used_is_recorded_so_the_next_writer_backs_the_file_up(
    tmp_path: Path, rows: list[dict[str, Any]], old: str, new: str
) -> None:
    # Judged from its bytes alone each of these is ambiguous and was not backed up; the record kept in
    # <path>.lock (format, inode, mtime_ns, size) says which delimiter wrote it.
    path = tmp_path / "d.csv"
    written, backup = _rotated(path, rows, old, new, recorded=True)
    assert written == backup
    assert None is _rotated(tmp_path / "e.csv", rows, old, new)[1]  # judged by its bytes alone: refused


def test_a_file_damaged_in_place_since_its_recorded_write_is_still_refused(tmp_path: Path) -> None:
    # Same inode, size and mtime (a sector rewritten under the file system): the record still fits,
    # and the file is judged under the delimiter that wrote it.
    path = tmp_path / "d.csv"
    rows = [{"a": "1", "b": "2"}, {"a": "3", "b": "4"}]
    write_csv(rows, path, delimiter=";", backups=1)
    write_csv(rows, path, delimiter=";", backups=1)
    good = Path(f"{path}.1").read_bytes()
    before = os.stat(path)
    with open(path, "r+b") as handle:
        handle.write(path.read_bytes().replace(b"3;4", b"3\n4", 1))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert (before.st_ino, before.st_size, before.st_mtime_ns) == (
        os.stat(path).st_ino, os.stat(path).st_size, os.stat(path).st_mtime_ns,
    )  # fmt: skip
    clear_all_caches()
    write_csv(rows, path, delimiter=";", backups=1)
    assert good == Path(f"{path}.1").read_bytes()


def test_an_unreadable_record_falls_back_to_judging_the_bytes(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    rows = [{"a": "1", "b": "2"}]
    write_csv(rows, path, delimiter=",", backups=1)
    Path(f"{path}.lock").write_text("{not json")
    clear_all_caches()
    write_csv([{"a": "5", "b": "6"}], path, delimiter=",", backups=1)
    assert rows == read_csv(Path(f"{path}.1"))


def test_a_csv_record_never_makes_a_json_write_take_csv_content_for_a_valid_backup(tmp_path: Path) -> None:
    path = tmp_path / "data.json"
    write_json({"good": 1}, path, backups=1)
    write_json({"good": 2}, path, backups=1)
    write_csv([{"a": "this is", "b": "not json"}], path, backups=0)
    write_json({"good": 3}, path, backups=1)
    assert {"good": 1} == read_json(Path(f"{path}.1"))


def test_the_record_is_never_written_through_a_symlinked_lock_file(tmp_path: Path) -> None:
    victim = tmp_path / "precious.txt"
    victim.write_text("precious data")
    path = tmp_path / "d.csv"
    Path(f"{path}.lock").symlink_to(victim)
    write_csv([{"a": "1"}], path)
    assert "precious data" == victim.read_text()


def test_a_foreign_lock_file_content_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    write_csv([{"a": "1", "b": "2"}], path, backups=1)
    Path(f"{path}.lock").write_text("[" * 200_000)
    clear_all_caches()
    write_csv([{"a": "3", "b": "4"}], path, backups=1)
    assert [{"a": "1", "b": "2"}] == read_csv(Path(f"{path}.1"))


def test_read_csv_refuses_a_leading_byte_order_mark_as_read_json_and_iter_jsonl_do(tmp_path: Path) -> None:
    (tmp_path / "bom.csv").write_bytes(b"\xef\xbb\xbfa,b\r\n1,2\r\n")
    (tmp_path / "bom.json").write_bytes(b'\xef\xbb\xbf[{"a": "1"}]')
    (tmp_path / "bom.jsonl").write_bytes(b'\xef\xbb\xbf{"a": "1"}\n')
    for read in (
        lambda: read_csv(tmp_path / "bom.csv"),
        lambda: read_json(tmp_path / "bom.json"),
        lambda: list(iter_jsonl(tmp_path / "bom.jsonl")),
    ):
        with pytest.raises(CorruptFileError) as caught:
            read()  # never a first column named "\ufeffa"
        assert 0 == caught.value.offset
    assert CorruptionDetector.detect_corruption(tmp_path / "bom.csv") is True
    assert CorruptionDetector.detect_corruption(tmp_path / "bom.json") is True
