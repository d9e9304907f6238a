"""recover_json: string-aware salvage of arrays, then JSON lines, then backups."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stalwart.fallbacks import (
    CorruptFileError,
    ReadError,
    RecoveryReport,
    get_performance_stats,
    read_json,
    recover_json,
    safe_read_json,
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


def test_an_array_with_trailing_garbage_keeps_the_array_and_counts_the_garbage_lost(tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    path.write_bytes(b"[1, 2]\ngarbage")
    report = recover_json(path)
    assert ([1, 2], "array", 1) == (report.data, report.method, report.lost)


@pytest.mark.parametrize(
    "damaged",
    [
        b"[1, 2]\ngarbage",
        b'{"a": 1}\n{"a": \n{"a": 3}\n',
        b"[1, NaN, Infinity]",
        b'["alice",1]\n["b\x01ob",2]\n["carol",3]\n',
    ],
    ids=["array-with-trailing-garbage", "json-lines-damaged-in-the-middle", "nan-and-infinity-in-an-array",
         "json-lines-of-arrays-with-a-damaged-line"],
)
def test_a_damaged_file_that_cannot_be_salvaged_whole_defers_to_a_valid_backup(tmp_path: Path, damaged: bytes) -> None:
    path = tmp_path / "d.json"
    write_json([7], path, backups=1)
    write_json([8], path, backups=1)
    path.write_bytes(damaged)
    report = recover_json(path)
    assert ([7], "backup") == (report.data, report.method)


def assert_cut_recovered(
    report: RecoveryReport, whole: list[Any], complete: list[Any], backup: Any, where: str
) -> None:
    """A cut file recovers intact, as its complete elements, or (none complete) as the backup."""
    if report.method == "intact":
        assert whole == report.data, where
    elif complete:
        assert (complete, "array") == (report.data, report.method), where
    else:
        assert (backup, "backup") == (report.data, report.method), where


def _indented_element_ends(records: list[Any], whole: bytes) -> list[int]:
    """Byte offsets where each element of an ``indent=2`` array ends in ``whole``."""
    ends = []
    for count in range(1, len(records) + 1):
        body = encode_json(records[:count], indent=2).rstrip(b"]").rstrip(b" \n")
        assert whole.startswith(body)
        ends.append(len(body))
    return ends


@settings(max_examples=8, deadline=None)
@given(records=RECORDS)
def test_truncated_indented_array_recovers_complete_elements_or_the_backup(
    tmp_path_factory: pytest.TempPathFactory, records: list[dict[str, Any]]
) -> None:
    path = tmp_path_factory.mktemp("indent") / "cut.json"
    backup = [{"generation": "backup"}]
    write_json(backup, path, indent=2, backups=1)
    write_json(records, path, indent=2, backups=1)
    whole = path.read_bytes()
    ends = _indented_element_ends(records, whole)
    for cut in range(len(whole)):
        path.write_bytes(whole[:cut])
        report = recover_json(path)
        complete = [record for record, end in zip(records, ends, strict=True) if end <= cut]
        assert_cut_recovered(report, records, complete, backup, f"cut at byte {cut} of {whole!r}")


def test_truncated_indented_object_uses_the_backup_not_line_fragments(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    config = {"servers": ["a.example", "b.example"], "retries": 3, "ports": [80, 443], "owner": "ops"}
    write_json(config, path, indent=2, backups=1)
    write_json({**config, "retries": 4}, path, indent=2, backups=1)
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) - 20])
    report = recover_json(path)
    assert (config, "backup", f"{path}.1") == (report.data, report.method, report.source)


def test_indented_array_cut_inside_its_first_element_uses_the_backup(tmp_path: Path) -> None:
    path = tmp_path / "users.json"
    write_json([{"id": 1, "tags": ["admin", "ops"]}], path, indent=2, backups=1)
    write_json([{"id": 1, "tags": ["admin", "ops"]}, {"id": 2, "tags": []}], path, indent=2, backups=1)
    whole = path.read_bytes()
    path.write_bytes(whole[: whole.index(b'"ops"') + len(b'"ops"') + 1])
    report = recover_json(path)
    assert ([{"id": 1, "tags": ["admin", "ops"]}], "backup") == (report.data, report.method)


def test_truncated_indented_object_without_backup_salvages_no_fragments(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_bytes(b'{\n  "servers": [\n    "a.example",\n    "b.example"\n  ],\n  "ports": [\n    443\n')
    with pytest.raises(CorruptFileError):
        recover_json(path)


@pytest.mark.parametrize("torn", [b"12", b"-0.5", b'{"a": 3', b"tru"])
def test_a_torn_last_json_line_is_lost_even_when_it_parses(tmp_path: Path, torn: bytes) -> None:
    path = tmp_path / "d.jsonl"
    path.write_bytes(b'{"a": 1}\n{"a": 2}\n' + torn)  # "12" may be "12345" cut short
    report = recover_json(path)
    assert ([{"a": 1}, {"a": 2}], 1) == (report.data, report.lost)


def test_a_last_json_line_that_only_lost_its_newline_is_recovered(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_bytes(b'{"a": 1}\n{"a": 2}\n{"a": 3}')
    report = recover_json(path)
    assert ([{"a": 1}, {"a": 2}, {"a": 3}], 0) == (report.data, report.lost)


def test_json_lines_msgspec_refuses_but_the_json_grammar_allows_are_recovered(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_bytes(b'{"a": 1}\n"\\ud800"\n[1, 2')  # an escaped lone surrogate is valid JSON
    report = recover_json(path)
    assert ([{"a": 1}, "\ud800"], 1) == (report.data, report.lost)


def test_json_lines_with_only_a_torn_last_line_are_preferred_to_a_backup(tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    write_json([0], path, backups=1)
    write_json([0], path, backups=1)
    path.write_bytes(b'{"a": 1}\n{"a": 2}\n{"a": 3')
    report = recover_json(path)
    assert ([{"a": 1}, {"a": 2}], "jsonl", 1) == (report.data, report.method, report.lost)


def test_recover_returns_a_valid_document_msgspec_refuses_intact_not_as_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_bytes(b'{"last_file": "caf\\udce9.txt", "n": 1}')  # an escaped lone surrogate: valid JSON
    report = recover_json(path)
    assert ({"last_file": "caf\udce9.txt", "n": 1}, "intact", 0) == (report.data, report.method, report.lost)


_DAMAGED_STRING = b'[{"id":1,"note":"ok"},{"id":2,"note":"\x01ee ids 7, 8, 9"},{"id":3,"note":"ok"}]\n'


def test_commas_inside_a_damaged_string_are_not_taken_for_element_ends(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    path.write_bytes(_DAMAGED_STRING)
    report = recover_json(path)
    assert ([{"id": 1, "note": "ok"}, {"id": 3, "note": "ok"}], 1) == (report.data, report.lost)
    assert "array" == report.method


def test_an_array_damaged_in_the_middle_defers_to_a_valid_backup(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    write_json([{"old": True}], path, backups=1)
    write_json([0], path, backups=1)
    path.write_bytes(_DAMAGED_STRING)
    report = recover_json(path)
    assert ([{"old": True}], "backup", f"{path}.1") == (report.data, report.method, report.source)


def test_json_lines_whose_first_line_is_damaged_keep_the_other_lines(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_bytes(b'{"n":\x00\x00\x00\n' + b"".join(b'{"n":%d}\n' % n for n in range(5)))
    report = recover_json(path)
    assert ([{"n": n} for n in range(5)], "jsonl", 1) == (report.data, report.method, report.lost)


@pytest.mark.parametrize("opener", [b"{", b'{"hosts": [', b'{"port":', b'{"a": 1,'])
def test_a_first_line_that_opens_a_multi_line_object_is_never_read_as_json_lines(
    tmp_path: Path, opener: bytes
) -> None:
    path = tmp_path / "d.json"
    path.write_bytes(opener + b'\n  "b.example",\n  443\n')
    with pytest.raises(CorruptFileError):
        recover_json(path)


def test_nan_in_an_array_without_backup_loses_that_element(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    path.write_bytes(b"[1, NaN, 3]")
    report = recover_json(path)
    assert ([1, 3], 1) == (report.data, report.lost)


_FRAGMENT_RECORDS = [
    {"id": 0, "tags": ["a", 0]},
    {"id": 1, "tags": ["see ids 7, 8, 9", 1], "note": "[3], {x}"},
    {"id": 2, "tags": ["b", 2], "note": "1, 2"},
]


def _in_order_subset(items: list[Any], originals: list[Any]) -> bool:
    remaining = iter(originals)
    return all(any(item == original for original in remaining) for item in items)


def test_a_zeroed_byte_anywhere_never_turns_pieces_of_strings_into_records(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    whole = encode_json(_FRAGMENT_RECORDS)
    wrong = []
    for offset in range(1, len(whole) - 1):
        path.write_bytes(whole[:offset] + b"\x00" + whole[offset + 1 :])
        try:
            data = recover_json(path).data
        except CorruptFileError:
            continue
        if not _in_order_subset(data, _FRAGMENT_RECORDS):
            wrong.append((offset, data))
    assert [] == wrong


def test_a_damaged_quote_keeps_only_the_elements_before_the_damage(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    path.write_bytes(
        b'[{"id":0,"tags":["a",0]},{"id":1,\x00\x00\x00\x00\x00\x00\x00\x00"see ids 7, 8, 9",1]},'
        b'{"id":2,"tags":["b",2]}]'
    )
    report = recover_json(path)
    assert ([{"id": 0, "tags": ["a", 0]}], 1, "array") == (report.data, report.lost, report.method)


def test_elements_after_damage_are_kept_only_if_they_run_to_the_final_bracket(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    path.write_bytes(b'[{"a": 1}, {"a": \x00}, {"a": 3}, {"a": 4}] {"a": 5}')
    report = recover_json(path)
    assert ([{"a": 1}], "array") == (report.data, report.method)
    assert report.lost >= 1


@pytest.mark.parametrize(
    "damaged",
    [b'[{"a":1},]"b":2},{"c":3},{"d":4}]\n', b'[{"a":1}]{"b":2},{"c":3},{"d":4}]\n'],
    ids=["bracket-after-comma", "bracket-after-element"],
)
def test_a_stray_closing_bracket_is_damage_and_a_valid_backup_wins(tmp_path: Path, damaged: bytes) -> None:
    path = tmp_path / "a.json"
    write_json([{"a": 1}, {"b": 2}, {"c": 3}], path, backups=1)
    write_json([{"a": 1}, {"b": 2}, {"c": 3}, {"d": 4}], path, backups=1)
    path.write_bytes(damaged)
    report = recover_json(path)
    assert ([{"a": 1}, {"b": 2}, {"c": 3}], "backup") == (report.data, report.method)


def test_a_stray_closing_bracket_without_backup_counts_the_rest_as_lost(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    path.write_bytes(b'[{"a":1},]"b":2},{"c":3},{"d":4}]\n')
    report = recover_json(path)
    assert ([{"a": 1}], "array", 1) == (report.data, report.method, report.lost)


def test_json_lines_of_arrays_with_a_damaged_line_are_json_lines_not_the_first_array(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_bytes(b'["alice",1]\n["b\x01ob",2]\n["carol",3]\n["dave",4]\n')
    report = recover_json(path)
    assert ([["alice", 1], ["carol", 3], ["dave", 4]], "jsonl", 1) == (report.data, report.method, report.lost)




@pytest.mark.parametrize("first", [b'{"a": 1,', b'{"a":', b'{"a": [', b'{"a": {'])
def test_json_lines_whose_damaged_first_line_ends_like_an_opener_keep_the_other_lines(
    tmp_path: Path, first: bytes
) -> None:
    path = tmp_path / "d.jsonl"
    path.write_bytes(first + b"\n" + b"".join(b'{"n":%d}\n' % n for n in range(3)))
    report = recover_json(path)
    assert ([{"n": 0}, {"n": 1}, {"n": 2}], "jsonl", 1) == (report.data, report.method, report.lost)


def test_json_lines_with_a_damaged_first_line_and_a_torn_last_one_keep_the_lines_between(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_bytes(b'{"a": 1,\n{"n":0}\n{"n":1}\n{"n":2')  # the torn last line is the cut, not a sign either way
    report = recover_json(path)
    assert ([{"n": 0}, {"n": 1}], "jsonl", 2) == (report.data, report.method, report.lost)


def test_json_lines_of_arrays_whose_first_line_is_cut_after_a_comma_keep_the_other_lines(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_bytes(b"[1, 2,\n[3, 4]\n[5, 6]\n[7, 8]\n")
    report = recover_json(path)
    assert ([[3, 4], [5, 6], [7, 8]], "jsonl", 1) == (report.data, report.method, report.lost)


@pytest.mark.parametrize(
    "document",
    [{"servers": ["a.example", "b.example"], "ports": [80, 443], "retries": 3}, [[1, 2], [3, 4], ["x", "y"]]],
    ids=["object", "array-of-arrays"],
)
def test_a_zeroed_deleted_or_blanked_byte_anywhere_in_a_pretty_printed_document_never_yields_line_fragments(
    tmp_path: Path, document: Any
) -> None:
    path = tmp_path / "d.json"
    whole = encode_json(document, indent=2)
    elements = document if isinstance(document, list) else []
    wrong = []
    for offset in range(len(whole)):
        # A deleted or blanked "," makes two lines in a row parse ("80" above "443").
        for damage, damaged in (
            ("zeroed", whole[:offset] + b"\x00" + whole[offset + 1 :]),
            ("deleted", whole[:offset] + whole[offset + 1 :]),
            ("blanked", whole[:offset] + b" " + whole[offset + 1 :]),
        ):
            path.write_bytes(damaged)
            try:
                report = recover_json(path)
            except CorruptFileError:
                continue
            if report.method == "intact":
                continue  # a space or newline less (or blanked) leaves valid JSON: nothing to recover
            # A deleted or blanked bracket shifts the structure (a "]" less reads as an array cut
            # short), which the array salvage cannot tell from data; reading lines alone must not happen.
            fragments = report.method == "jsonl" or (
                damage == "zeroed" and not (isinstance(report.data, list) and _in_order_subset(report.data, elements))
            )
            if fragments:
                wrong.append((damage, offset, report.method, report.data))  # e.g. [2, 4]: inner arrays' last lines
    assert [] == wrong


def test_a_pretty_printed_object_that_lost_a_comma_is_not_read_as_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "cfg.json"
    write_json({"ports": [80, 443], "hosts": ["a.example", "b.example"]}, path, indent=2, backups=0)
    path.write_bytes(path.read_bytes().replace(b"80,", b"80", 1))  # "80" and "443" now both parse alone
    with pytest.raises(CorruptFileError):
        recover_json(path)
    assert None is safe_read_json(path)


def test_a_pretty_printed_array_of_arrays_with_a_blanked_comma_keeps_only_whole_elements(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    write_json([[1, 2, 3], [4, 5, 6]], path, indent=2, backups=0)
    path.write_bytes(path.read_bytes().replace(b"2,", b"2 ", 1))  # "2" and "3" now both parse alone
    report = recover_json(path)
    assert ([[4, 5, 6]], "array", 1) == (report.data, report.method, report.lost)


@pytest.mark.parametrize(
    "elements", [[1, 2, 3], ["x", "y, z", "w"], [[], [1], {}]], ids=["numbers", "strings", "empty"]
)
def test_a_truncated_pretty_printed_array_of_one_line_elements_gives_its_complete_elements_or_the_backup(
    tmp_path: Path, elements: list[Any]
) -> None:
    path = tmp_path / "d.json"
    backup = [{"generation": "backup"}]
    write_json(backup, path, indent=2, backups=1)
    write_json(elements, path, indent=2, backups=1)
    whole = path.read_bytes()
    ends = _indented_element_ends(elements, whole)
    for cut in range(len(whole)):
        path.write_bytes(whole[:cut])
        report = recover_json(path)
        # A number is complete once its "," or "]" follows (``1`` may be the first digit of ``12``).
        complete = [
            element
            for element, end in zip(elements, ends, strict=True)
            if end <= cut and (not isinstance(element, int) or whole[end:cut].strip()[:1] in (b",", b"]"))
        ]
        assert_cut_recovered(report, elements, complete, backup, f"cut at byte {cut} of {whole!r}")


def test_a_long_pretty_printed_array_damaged_in_its_first_line_salvages_no_fragments(tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    whole = encode_json([{"id": n, "tags": ["a", n]} for n in range(40)], indent=2)  # ~400 lines
    path.write_bytes(b"\x00" + whole[1:])
    with pytest.raises(CorruptFileError):
        recover_json(path)  # each tags array's last line (0, 1, 2 ...) parses alone


@pytest.mark.parametrize(
    ("first", "expected"),
    [(b'{"n":\x00', [{"n": 1}]), (b'{"a":', None)],
    ids=["damaged-record", "may-open-an-object"],
)
def test_a_damaged_first_line_and_one_record_are_json_lines_unless_the_first_may_open_a_document(
    tmp_path: Path, first: bytes, expected: list[Any] | None
) -> None:
    path = tmp_path / "d.json"
    path.write_bytes(first + b'\n{"n": 1}\n')  # '{"a":' then one line: may be an object cut before its "}"
    if expected is None:
        with pytest.raises(CorruptFileError):
            recover_json(path)
    else:
        report = recover_json(path)
        assert (expected, "jsonl") == (report.data, report.method)


def _torn_json_lines(count: int, damaged_every: int, within: int) -> tuple[bytes, list[Any]]:
    """Return JSON Lines whose first line is torn and every ``damaged_every``-th of the next ``within`` too."""
    lines = [b'{"seq": -1, "ev']  # the first record, torn by a crash
    good: list[Any] = []
    for seq in range(count):
        record = {"seq": seq, "event": "tick"}
        if seq < within and seq % damaged_every == 0:
            lines.append(encode_json(record)[:9] + b'{"seq": 7')  # two writers' bytes in one line
        else:
            lines.append(encode_json(record))
            good.append(record)
    return b"\n".join(lines) + b"\n", good


def test_json_lines_with_a_damaged_first_line_and_a_third_of_the_next_64_damaged_keep_every_good_line(
    tmp_path: Path,
) -> None:
    path = tmp_path / "events.jsonl"
    raw, good = _torn_json_lines(300, damaged_every=3, within=64)  # 22 of the first 64 damaged
    path.write_bytes(raw)
    report = recover_json(path)
    assert (good, "jsonl", 1 + 22) == (report.data, report.method, report.lost)


def test_json_lines_damaged_throughout_past_the_first_64_lines_keep_every_good_line(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    raw, good = _torn_json_lines(200, damaged_every=3, within=200)  # a third damaged, all the way
    path.write_bytes(raw)
    report = recover_json(path)
    assert (good, "jsonl", 1 + 67) == (report.data, report.method, report.lost)


def test_json_lines_of_two_unlocked_writers_with_a_torn_first_line_keep_every_line_that_parses(
    tmp_path: Path,
) -> None:
    # Each writer flushes 4 KiB chunks with O_APPEND: the chunks interleave, most lines are torn.
    objects = b"".join(encode_json({"i": i, "pad": "a" * 1500}) + b"\n" for i in range(60))
    arrays = b"".join(encode_json(["b", i, "b" * 1500]) + b"\n" for i in range(60))
    chunks = zip(
        (objects[at : at + 4096] for at in range(0, len(objects), 4096)),
        (arrays[at : at + 4096] for at in range(0, len(arrays), 4096)),
        strict=True,
    )
    raw = b"".join(a + b for a, b in chunks)[7:]  # copied from the middle: the first line is torn
    expected = []
    for line in raw.split(b"\n"):
        try:
            expected.append(json.loads(line))
        except ValueError:
            continue
    assert len(expected) < 0.75 * raw.count(b"\n")  # more than a quarter of the lines damaged
    path = tmp_path / "two.jsonl"
    path.write_bytes(raw)
    report = recover_json(path)
    assert (expected, "jsonl") == (report.data, report.method)


def test_a_pretty_document_with_a_damaged_first_line_and_three_lines_that_parse_is_not_json_lines(
    tmp_path: Path,
) -> None:
    path = tmp_path / "cfg.json"
    whole = encode_json({"a": [1, 2], "b": [3], "c": ["x"]}, indent=2)
    path.write_bytes(b"\x00" + whole[1:])  # "2", "3" and '"x"' parse alone; keys and closers are many more
    with pytest.raises(CorruptFileError):
        recover_json(path)


def test_a_pretty_array_of_scalars_that_lost_its_opener_and_a_comma_is_not_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    # "1" (its "," lost) and the last element parse alone; the elements that keep their "," look pretty.
    path.write_bytes(b'\x00\n  1\n  22,\n  333,\n  "x,y",\n  "b]"\n]\n')
    with pytest.raises(CorruptFileError):
        recover_json(path)


def test_a_byte_order_mark_before_json_lines_costs_no_record(tmp_path: Path) -> None:
    path = tmp_path / "b.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"id": 0}\n{"id": 1}\n{"id": 2}\n')
    report = recover_json(path)
    assert ([{"id": 0}, {"id": 1}, {"id": 2}], "jsonl", 0) == (report.data, report.method, report.lost)


def test_a_byte_order_mark_before_a_document_is_refused_by_read_json_and_skipped_by_recovery(
    tmp_path: Path,
) -> None:
    path = tmp_path / "b.json"
    path.write_bytes(b'\xef\xbb\xbf[{"id": 0}, {"id": 1}]\n')
    with pytest.raises(CorruptFileError) as caught:
        read_json(path)
    assert 0 == caught.value.offset
    report = recover_json(path)
    assert ([{"id": 0}, {"id": 1}], "intact", 0) == (report.data, report.method, report.lost)
    assert any("byte order mark" in problem for problem in report.problems)
    assert [{"id": 0}, {"id": 1}] == read_json(path, recover=True) == safe_read_json(path)


def test_a_byte_order_mark_before_a_truncated_array_keeps_its_complete_elements(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    path.write_bytes(b'\xef\xbb\xbf[{"id": 0}, {"id": 1}, {"id"')
    report = recover_json(path)
    assert ([{"id": 0}, {"id": 1}], "array", 1) == (report.data, report.method, report.lost)


def test_a_pretty_document_without_a_final_newline_that_lost_a_comma_is_not_json_lines(tmp_path: Path) -> None:
    # json.dump writes no final newline: the closing "]" used to count as a torn record, not as pretty.
    path = tmp_path / "d.json"
    text = b'\x00\x00\t[\n\t\t"alice" \n\t\t"bob"\n\t],\n\t"carol",\n\t"dave"\n]'
    path.write_bytes(text)
    with pytest.raises(CorruptFileError):
        recover_json(path)


def test_a_truncated_array_with_commas_on_their_own_lines_gives_its_complete_elements(tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    write_json([{"id": "old"}], path, backups=1)
    write_json([{"id": n} for n in range(6)], path, backups=1)
    path.write_bytes(b"[\n" + b"\n,\n".join(b'{"id": %d}' % n for n in range(6))[:-3])
    report = recover_json(path)
    assert ([{"id": n} for n in range(5)], "array") == (report.data, report.method)


@pytest.mark.parametrize(
    ("text", "records"),
    [
        (b'{"id": 0, "na\n{"id": 1}\n{"id": 2}\n"name": "x"}\n{', [{"id": 1}, {"id": 2}]),
        (b"[1, 2\n[3]\n[4]\n}\n[", [[3], [4]]),
    ],
    ids=["torn-after-brace", "torn-after-bracket"],
)
def test_json_lines_whose_last_record_is_torn_after_its_first_byte_keep_their_records(
    tmp_path: Path, text: bytes, records: list[Any]
) -> None:
    # A last line cut right after its "{" or "[" is the cut, no sign of a pretty-printed document.
    path = tmp_path / "d.jsonl"
    path.write_bytes(text)
    report = recover_json(path)
    assert (records, "jsonl") == (report.data, report.method)
