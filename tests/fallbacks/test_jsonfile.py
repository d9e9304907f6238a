"""The strict JSON / JSON Lines API (_jsonfile)."""

from __future__ import annotations

import datetime
import errno
import json
import logging
import os
import stat
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stalwart.core import Record
from stalwart.fallbacks import (
    CorruptFileError,
    CorruptionDetector,
    ReadError,
    UnsupportedTypeError,
    WriteError,
    _atomic,
    _jsonfile,
    append_jsonl,
    get_performance_stats,
    iter_json_array,
    iter_jsonl,
    read_json,
    recover_json,
    write_json,
)
from stalwart.fallbacks._atomic import resolve_target
from stalwart.fallbacks._locking import file_lock


def test_write_then_read_returns_equal_data(tmp_path: Path) -> None:
    data = [{"id": 1, "name": "a", "tags": ["x", "y"], "nested": {"a": 1, "b": 2.5}}]
    write_json(data, tmp_path / "d.json")
    assert data == read_json(tmp_path / "d.json")


def test_indent_writes_readable_json(tmp_path: Path) -> None:
    write_json({"a": [1]}, tmp_path / "d.json", indent=2)
    assert '{\n  "a": [\n    1\n  ]\n}\n' == (tmp_path / "d.json").read_text()


def test_a_mutated_list_is_written_again_not_served_from_a_cache(tmp_path: Path) -> None:
    data = [{"n": 1}]
    write_json(data, tmp_path / "d.json")
    data.append({"n": 2})
    write_json(data, tmp_path / "d.json")
    assert [{"n": 1}, {"n": 2}] == read_json(tmp_path / "d.json")


def test_unsupported_value_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    write_json([1], path)
    with pytest.raises(UnsupportedTypeError):
        write_json([object()], path)
    assert [1] == read_json(path)


def test_missing_file_is_a_read_error(tmp_path: Path) -> None:
    with pytest.raises(ReadError) as caught:
        read_json(tmp_path / "missing.json")
    assert str(tmp_path / "missing.json") == caught.value.path


def test_corrupt_file_error_names_path_and_byte_offset(tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    path.write_bytes(b'[{"a": 1}, {"b": 2,}]')
    with pytest.raises(CorruptFileError) as caught:
        read_json(path)
    assert 19 == caught.value.offset  # msgspec points at the "}" after the stray comma
    assert str(path) == caught.value.path


def test_truncated_file_offset_is_the_end(tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    path.write_bytes(b'[{"a": 1}, {"b"')
    with pytest.raises(CorruptFileError) as caught:
        read_json(path)
    assert 15 == caught.value.offset


def test_invalid_utf8_offset_is_the_bad_byte(tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    path.write_bytes(b'["ok", "\xff"]')
    with pytest.raises(CorruptFileError) as caught:
        read_json(path)
    assert 8 == caught.value.offset


def test_read_with_recover_returns_salvage_and_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "d.json"
    path.write_bytes(b'[{"a": 1}, {"a": 2}, {"a"')
    with caplog.at_level(logging.WARNING, logger="stalwart.fallbacks"):
        assert [{"a": 1}, {"a": 2}] == read_json(path, recover=True)
    assert "recovered 2" in caplog.text


def test_restore_types_false_leaves_tags_visible(tmp_path: Path) -> None:
    write_json([b"x"], tmp_path / "d.json")
    assert [{"$stalwart": "bytes", "v": "eA=="}] == read_json(tmp_path / "d.json", restore_types=False)


def test_append_jsonl_and_iter_jsonl_round_trip_with_types(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    assert 2 == append_jsonl([{"a": (1, 2)}, {"b": {3}}], path)
    assert 1 == append_jsonl([{"c": b"z"}], path)
    assert [{"a": (1, 2)}, {"b": {3}}, {"c": b"z"}] == list(iter_jsonl(path))


def test_append_jsonl_accepts_core_records(tmp_path: Path) -> None:
    record = Record.create(logging.INFO, "app", "hello")
    append_jsonl([record], tmp_path / "r.jsonl")
    (line,) = iter_jsonl(tmp_path / "r.jsonl")
    assert "hello" == line["message"]


@pytest.mark.parametrize(
    "torn",
    [b'{"torn": ', b"12", b"-1.5", b"12 ", b'{"a": 1}{', b"\x00\x00\x00", b'{"b": NaN}'],
    ids=["cut-object", "cut-number", "cut-float", "number-and-space", "trailing-junk", "zeros", "nan"],
)
def test_append_after_a_torn_line_moves_its_bytes_to_the_sidecar_so_it_never_reads_as_a_record(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, torn: bytes
) -> None:
    path = tmp_path / "log.jsonl"
    append_jsonl([{"a": 1}], path)
    with open(path, "ab") as handle:
        handle.write(torn)  # a writer killed mid-line: "12" may be "12345" cut short
    before = get_performance_stats()["torn_lines_dropped"]
    with caplog.at_level(logging.WARNING, logger="stalwart.fallbacks"):
        append_jsonl([{"a": 2}], path)
    assert [{"a": 1}, {"a": 2}] == list(iter_jsonl(path))  # strict: no invalid line left
    assert b'{"a":1}\n{"a":2}\n' == path.read_bytes()
    assert torn + b"\n" == (tmp_path / "log.jsonl.torn").read_bytes()  # nothing destroyed
    assert 1 == get_performance_stats()["torn_lines_dropped"] - before
    assert "moved the torn last line" in caplog.text
    assert "byte 8" in caplog.text
    assert str(tmp_path / "log.jsonl.torn") in caplog.text


def test_a_valid_jsonl_file_ending_in_a_number_without_newline_keeps_every_byte(tmp_path: Path) -> None:
    """``3`` may be ``345`` cut short, so it cannot stay a record: it moves to the sidecar, whole."""
    path = tmp_path / "n.jsonl"
    path.write_bytes(b"1\n2\n3")
    append_jsonl([4], path)
    path.write_bytes(path.read_bytes() + b"56")
    append_jsonl([7], path)
    assert [1, 2, 4, 7] == list(iter_jsonl(path))
    assert b"3\n56\n" == (tmp_path / "n.jsonl.torn").read_bytes()  # tails accumulate, one per line


def test_append_keeps_a_last_line_msgspec_refuses_but_the_json_grammar_allows(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    line = json.dumps({"s": "\ud800"}).encode()  # an escaped lone surrogate: valid JSON
    path.write_bytes(b'{"a": 1}\n' + line)
    append_jsonl([{"a": 2}], path)
    assert b'{"a": 1}\n' + line + b'\n{"a":2}\n' == path.read_bytes()
    assert [{"a": 1}, {"s": "\ud800"}, {"a": 2}] == list(iter_jsonl(path))
    assert not (tmp_path / "s.jsonl.torn").exists()


def test_append_after_a_blank_last_line_without_newline_keeps_it_blank(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    path.write_bytes(b'{"a": 1}\n  ')
    append_jsonl([{"a": 2}], path)
    assert b'{"a": 1}\n  \n{"a":2}\n' == path.read_bytes()
    assert not (tmp_path / "log.jsonl.torn").exists()


def test_append_that_cannot_save_a_torn_line_raises_and_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    path.write_bytes(b'{"a": 1}\n{"a": ')
    (tmp_path / "log.jsonl.torn").mkdir()  # the sidecar cannot be written
    with pytest.raises(WriteError):
        append_jsonl([{"a": 2}], path)
    assert b'{"a": 1}\n{"a": ' == path.read_bytes()


@pytest.mark.parametrize("whole", [b'{"a": 1.5}', b"[1, 2]", b'"text"', b"null", b"true", b'{"b": 2}   '])
def test_append_after_a_whole_record_that_lost_its_newline_keeps_it(tmp_path: Path, whole: bytes) -> None:
    path = tmp_path / "log.jsonl"
    path.write_bytes(b'{"a": 0}\n' + whole)
    append_jsonl([{"a": 2}], path)
    assert [{"a": 0}, json.loads(whole), {"a": 2}] == list(iter_jsonl(path))
    assert not (tmp_path / "log.jsonl.torn").exists()


def test_append_after_a_torn_line_longer_than_a_read_block_moves_only_that_line(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    torn = b'{"a": "' + b"x" * 200_000
    path.write_bytes(b'{"a": 0}\n' + torn)
    append_jsonl([{"a": 2}], path)
    assert [{"a": 0}, {"a": 2}] == list(iter_jsonl(path))
    assert torn + b"\n" == (tmp_path / "log.jsonl.torn").read_bytes()


def test_append_to_a_file_that_is_one_torn_line_starts_it_afresh(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    path.write_bytes(b"123")
    append_jsonl([{"a": 2}], path)
    assert b'{"a":2}\n' == path.read_bytes()
    assert b"123\n" == (tmp_path / "log.jsonl.torn").read_bytes()


def test_append_with_a_bad_record_appends_nothing(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    append_jsonl([{"a": 1}], path)
    with pytest.raises(UnsupportedTypeError) as caught:
        append_jsonl([{"a": 2}, {"b": object()}], path)
    assert "$[1]['b']" == caught.value.value_path
    assert [{"a": 1}] == list(iter_jsonl(path))


def test_iter_json_array_streams_elements_across_small_chunks(tmp_path: Path) -> None:
    data = [{"s": "a ] , } string"}, 12345, -1.5e10, "x" * 100, [1, [2]], None, True, b"\x01"]
    write_json(data, tmp_path / "d.json", indent=1)
    assert data == list(iter_json_array(tmp_path / "d.json", chunk_size=3))


def test_iter_json_array_of_empty_array(tmp_path: Path) -> None:
    (tmp_path / "d.json").write_bytes(b" [ ] \n")
    assert [] == list(iter_json_array(tmp_path / "d.json"))


@pytest.mark.parametrize(
    ("content", "offset"),
    [(b'{"a": 1}', 0), (b"[1, 2", 5), (b"[1, 2] x", 7), (b"[1 2]", 3), (b'[1, "\xff"]', 5)],
)
def test_iter_json_array_rejects_damage_with_offset(tmp_path: Path, content: bytes, offset: int) -> None:
    (tmp_path / "d.json").write_bytes(content)
    with pytest.raises(CorruptFileError) as caught:
        list(iter_json_array(tmp_path / "d.json", chunk_size=2))
    assert offset == caught.value.offset


def test_iter_json_array_yields_elements_before_the_damage(tmp_path: Path) -> None:
    (tmp_path / "d.json").write_bytes(b'[{"a": 1}, {"a": 2}, {"a"')
    got: list[Any] = []
    with pytest.raises(CorruptFileError):
        got.extend(iter_json_array(tmp_path / "d.json", chunk_size=4))
    assert [{"a": 1}, {"a": 2}] == got


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=10,
)


@settings(max_examples=60, deadline=None)
@given(items=st.lists(JSON_VALUES, max_size=8), chunk=st.integers(min_value=1, max_value=64))
def test_iter_json_array_equals_read_json_for_any_chunk_size(
    tmp_path_factory: pytest.TempPathFactory, items: list[Any], chunk: int
) -> None:
    path = tmp_path_factory.getbasetemp() / "stream.json"
    write_json(items, path, durable=False, backups=0)
    assert read_json(path) == list(iter_json_array(path, chunk_size=chunk))


def test_iter_json_array_memory_stays_bounded_on_a_large_file(tmp_path: Path) -> None:
    import tracemalloc

    path = tmp_path / "big.json"
    write_json([{"i": i, "pad": "p" * 200} for i in range(20_000)], path, durable=False)
    assert path.stat().st_size > 4_000_000
    tracemalloc.start()
    try:
        count = sum(1 for _ in iter_json_array(path))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert 20_000 == count
    assert peak < 1_000_000, f"peak {peak} bytes for a {path.stat().st_size} byte file"


def test_iter_jsonl_refuses_a_last_line_cut_mid_number(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    append_jsonl([{"n": 1}, 12345], path)
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(CorruptFileError, match="no newline") as caught:
        list(iter_jsonl(path))
    assert (2, len(b"{\"n\":1}\n")) == (caught.value.line, caught.value.offset)


def test_iter_jsonl_skip_invalid_skips_a_torn_last_line(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    append_jsonl([{"n": 1}, 12345], path)
    path.write_bytes(path.read_bytes()[:-3])
    assert [{"n": 1}] == list(iter_jsonl(path, skip_invalid=True))


def test_iter_jsonl_yields_a_whole_last_line_without_newline(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_bytes(b'{"a":1}\n{"b":2}')
    assert [{"a": 1}, {"b": 2}] == list(iter_jsonl(path))


def test_iter_jsonl_refuses_a_bare_number_last_line_without_newline_strictly_and_skips_it_otherwise(
    tmp_path: Path,
) -> None:
    path = tmp_path / "d.jsonl"
    path.write_bytes(b"1\n2\n3")
    with pytest.raises(CorruptFileError, match="not provably whole") as caught:
        list(iter_jsonl(path))
    assert (3, 4) == (caught.value.line, caught.value.offset)
    assert [1, 2] == list(iter_jsonl(path, skip_invalid=True))


def test_iter_jsonl_reads_a_line_msgspec_refuses_but_the_json_grammar_allows(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_bytes(json.dumps({"s": "\udc80"}).encode() + b"\n")
    assert [{"s": "\udc80"}] == list(iter_jsonl(path))


def _thread_waits_in(thread: threading.Thread, function: str) -> bool:
    frame = sys._current_frames().get(thread.ident or 0)
    while frame is not None:
        if frame.f_code.co_name == function:
            return True
        frame = frame.f_back
    return False


@pytest.mark.parametrize("rows", [10, 40_000], ids=["checked-first", "checked-while-written"])
def test_data_changed_while_write_json_waits_for_the_lock_is_written_as_it_is_then(
    tmp_path: Path, rows: int
) -> None:
    """Encoded before the wait, a datetime would be written as msgspec's lossy string."""
    path = tmp_path / "state.json"
    state: dict[str, Any] = {
        "rows": [{"id": i, "name": "x" * 20} for i in range(rows)],
        "last_sync": datetime.datetime(2026, 1, 1, 12, 0),
    }
    failures: list[BaseException] = []

    def save() -> None:
        try:
            write_json(state, path, backups=0)
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            failures.append(exc)

    saver = threading.Thread(target=save)
    with file_lock(resolve_target(path)):  # another writer holds the file
        saver.start()
        for _ in range(3000):
            if _thread_waits_in(saver, "file_lock"):
                break
            time.sleep(0.01)
        else:
            pytest.fail("write_json never waited for the lock")
        state["last_sync"] = None  # the application updates its state meanwhile
    saver.join(30)
    assert [] == failures
    assert None is read_json(path)["last_sync"]


_LATIN1_NAME = b"caf\xe9.txt".decode("utf-8", "surrogateescape")  # what os.listdir gives for it


@pytest.mark.parametrize(
    ("data", "value_path", "type_name"),
    [
        ({"files": [_LATIN1_NAME]}, "$['files'][0]", "str"),
        ({_LATIN1_NAME: 1}, f"$[{_LATIN1_NAME!r}]", "key"),
        ({"p": (Path("/tmp") / _LATIN1_NAME,)}, "$['p'][0]", "PosixPath" if os.name == "posix" else "WindowsPath"),
    ],
    ids=["value", "key", "path"],
)
def test_write_json_refuses_a_lone_surrogate_with_a_typed_error_naming_where_it_is(
    tmp_path: Path, data: Any, value_path: str, type_name: str
) -> None:
    path = tmp_path / "d.json"
    write_json({"old": 1}, path)
    with pytest.raises(UnsupportedTypeError, match="lone surrogate") as caught:
        write_json(data, path)
    assert (value_path, type_name) == (caught.value.value_path, caught.value.type_name)
    assert {"old": 1} == read_json(path)


def test_append_jsonl_refuses_a_lone_surrogate_with_a_typed_error_and_appends_nothing(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    with pytest.raises(UnsupportedTypeError, match="lone surrogate") as caught:
        append_jsonl([{"f": "ok"}, {"f": _LATIN1_NAME}], path)
    assert "$[1]['f']" == caught.value.value_path
    assert not path.exists()


def test_a_whole_file_with_an_escaped_lone_surrogate_reads_as_the_document_stdlib_json_wrote(tmp_path: Path) -> None:
    data = {"last_file": _LATIN1_NAME, "n": 1}
    path = tmp_path / "settings.json"
    path.write_text(json.dumps(data))  # stdlib json (ensure_ascii) writes "caf\udce9.txt": valid JSON
    assert data == read_json(path)
    assert data == read_json(path, recover=True)
    write_json({"n": 2}, path, backups=1)  # the valid current version is backed up, not refused
    assert data == read_json(tmp_path / "settings.json.1")
    assert {"n": 2} == read_json(path)


@pytest.mark.skipif(os.name == "nt", reason="POSIX permission bits")
def test_a_new_torn_line_sidecar_gets_the_data_files_permissions_not_the_umasks(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    path.write_bytes(b'{"a": 1}\n{"a": ')
    os.chmod(path, 0o640)
    previous = os.umask(0o022)  # would give a new file 0o644: readable by everyone
    try:
        append_jsonl([{"a": 2}], path)
    finally:
        os.umask(previous)
    assert b'{"a": \n' == (tmp_path / "log.jsonl.torn").read_bytes()
    assert 0o640 == stat.S_IMODE(os.stat(tmp_path / "log.jsonl.torn").st_mode)


def test_a_sidecar_append_that_fails_part_way_is_cut_back_so_tails_never_share_a_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "log.jsonl"
    sidecar = tmp_path / "log.jsonl.torn"
    sidecar.write_bytes(b"old\n")
    path.write_bytes(b'{"a": 1}\n{"a": ')
    real_write_all = _atomic.write_all

    def write_half_then_fail(fd: int, chunks: Any) -> int:
        data = b"".join(chunks)
        if data == b'{"a": \n':  # the torn tail on its way to the sidecar
            os.write(fd, data[:3])
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write_all(fd, chunks)

    monkeypatch.setattr(_jsonfile, "write_all", write_half_then_fail)
    with pytest.raises(WriteError, match="No space left"):
        append_jsonl([{"a": 2}], path)
    monkeypatch.undo()
    assert b"old\n" == sidecar.read_bytes()
    assert b'{"a": 1}\n{"a": ' == path.read_bytes()
    append_jsonl([{"a": 2}], path)
    assert b'old\n{"a": \n' == sidecar.read_bytes()
    assert [{"a": 1}, {"a": 2}] == list(iter_jsonl(path))


@pytest.mark.parametrize("chunk_size", [1, 3, 65536])
@pytest.mark.parametrize(("content", "offset"), [(b"[1, NaN]", 4), (b"[1, [Infinity]]", 4), (b"[-Infinity]", 1)])
def test_iter_json_array_refuses_nan_and_infinity_as_read_json_does(
    tmp_path: Path, content: bytes, offset: int, chunk_size: int
) -> None:
    (tmp_path / "d.json").write_bytes(content)
    with pytest.raises(CorruptFileError) as caught:
        list(iter_json_array(tmp_path / "d.json", chunk_size=chunk_size))
    assert offset == caught.value.offset
    with pytest.raises(CorruptFileError):
        read_json(tmp_path / "d.json")


def _run_under_file_size_limit(limit: int, body: str) -> subprocess.CompletedProcess[str]:
    """Run ``body`` in a child whose files may not grow past ``limit`` bytes (the kernel says EFBIG)."""
    script = "import resource, signal\n"
    script += "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
    script += f"resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))\n"
    script += textwrap.dedent(body)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)


@pytest.mark.skipif(os.name != "posix", reason="RLIMIT_FSIZE is POSIX")
def test_an_append_that_hits_the_file_size_limit_leaves_nothing_of_itself_so_a_retry_never_duplicates(
    tmp_path: Path,
) -> None:
    path = tmp_path / "log.jsonl"
    append_jsonl([{"i": -1}], path)
    before = path.read_bytes()
    batch = [{"i": i, "pad": "x" * 50} for i in range(200)]  # ~14 KB: the limit cuts it part-way
    done = _run_under_file_size_limit(
        4096,
        f"""
        from stalwart.fallbacks import WriteError, append_jsonl
        try:
            append_jsonl({batch!r}, {str(path)!r})
        except WriteError as exc:
            print("WriteError", exc)
        """,
    )
    assert "File too large" in done.stdout, done.stderr
    assert before == path.read_bytes()
    append_jsonl(batch, path)  # the retry a failed append invites
    assert [-1, *range(200)] == [record["i"] for record in iter_jsonl(path)]


@pytest.mark.skipif(os.name != "posix", reason="RLIMIT_FSIZE is POSIX")
def test_an_append_that_creates_the_file_and_fails_leaves_no_file(tmp_path: Path) -> None:
    path = tmp_path / "new.jsonl"
    done = _run_under_file_size_limit(
        1024,
        f"""
        from stalwart.fallbacks import WriteError, append_jsonl
        try:
            append_jsonl([{{"pad": "x" * 100}}] * 50, {str(path)!r})
        except WriteError as exc:
            print("WriteError", exc)
        """,
    )
    assert "File too large" in done.stdout, done.stderr
    assert not path.exists()


def test_iter_json_array_fails_at_a_damaged_element_without_reading_the_rest_of_the_file(tmp_path: Path) -> None:
    import tracemalloc

    path = tmp_path / "big.json"
    with path.open("wb") as handle:
        handle.write(b'[{"a": 1}, {"a" 2}, ')  # the second element is damaged: a ':' is missing
        handle.write(b",".join(b'{"i": %d, "pad": "%s"}' % (i, b"p" * 200) for i in range(20_000)))
        handle.write(b"]")
    assert path.stat().st_size > 4_000_000
    got: list[Any] = []
    tracemalloc.start()
    try:
        with pytest.raises(CorruptFileError) as caught:
            got.extend(iter_json_array(path))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [{"a": 1}] == got
    assert 16 == caught.value.offset
    assert peak < 1_000_000, f"peak {peak} bytes for a {path.stat().st_size} byte file"


@pytest.mark.parametrize("chunk_size", [1, 7, 4096])
def test_iter_json_array_offset_of_invalid_utf8_is_the_bad_byte_not_the_chunk_start(
    tmp_path: Path, chunk_size: int
) -> None:
    content = b"[" + b",".join(b'"%s\xc3\xa9"' % (b"x" * 100) for _ in range(200)) + b',"\xff"]'
    (tmp_path / "d.json").write_bytes(content)
    with pytest.raises(CorruptFileError) as caught:
        list(iter_json_array(tmp_path / "d.json", chunk_size=chunk_size))
    assert content.index(b"\xff") == caught.value.offset


@pytest.mark.parametrize("chunk_size", [0, -1])
def test_iter_json_array_refuses_a_chunk_size_below_one_at_once(tmp_path: Path, chunk_size: int) -> None:
    write_json([1, 2], tmp_path / "d.json")
    with pytest.raises(ValueError, match="chunk_size"):
        iter_json_array(tmp_path / "d.json", chunk_size=chunk_size)


def _too_deep(tmp_path: Path, name: str) -> Path:
    """A valid JSON array nested far deeper than any decoder's recursion limit."""
    path = tmp_path / name
    path.write_bytes(b"[" * 100_000 + b"]" * 100_000 + (b"\n" if name.endswith(".jsonl") else b""))
    return path


def test_a_document_nested_too_deeply_is_a_corrupt_file_to_every_reader_never_a_recursion_error(
    tmp_path: Path,
) -> None:
    path = _too_deep(tmp_path, "deep.json")
    lines = _too_deep(tmp_path, "deep.jsonl")
    for read in (
        lambda: read_json(path),
        lambda: read_json(path, type=list[Any]),
        lambda: list(iter_json_array(path)),
        lambda: list(iter_jsonl(lines)),
    ):
        with pytest.raises(CorruptFileError, match="nested too deeply"):
            read()
    assert [] == list(iter_jsonl(lines, skip_invalid=True))
    assert 0 == recover_json(path).recovered
    assert CorruptionDetector.detect_corruption(path) is True
    assert CorruptionDetector.detect_corruption(lines) is True


def test_a_file_nested_too_deeply_is_replaced_by_the_next_write_and_not_kept_as_a_backup(tmp_path: Path) -> None:
    path = _too_deep(tmp_path, "deep.json")
    write_json([1], path, backups=1)
    assert [1] == read_json(path)
    assert not (tmp_path / "deep.json.1").exists()
