"""``stalwart store``: get, set, keys, dump and stats from the shell."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from stalwart.shared_data import SharedStore
from stalwart.shared_data._cli import store as store_cli


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(store_cli, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def path(tmp_path: Path) -> str:
    path = tmp_path / "cli.db"
    with SharedStore(path) as store:
        store.save(
            {
                "cfg": {"a": [1, 2], "b": None},
                "n": 5,
                "raw": b"\x00\x01",
                "when": datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc),
            }
        )
    return str(path)


def test_get_prints_the_value_as_json(path: str) -> None:
    assert (0, '{"a":[1,2],"b":null}\n', "") == _run("get", path, "cfg")


def test_get_prints_bytes_as_base64_and_datetimes_as_iso(path: str) -> None:
    assert '"AAE="' == _run("get", path, "raw")[1].strip()
    assert '"2024-01-02T03:04:05Z"' == _run("get", path, "when")[1].strip()


def test_get_of_an_absent_key_fails_naming_it(path: str) -> None:
    code, out, err = _run("get", path, "nope")
    assert (1, "") == (code, out)
    assert "'nope'" in err


def test_set_stores_a_json_value_that_get_reads_back(path: str) -> None:
    assert 0 == _run("set", path, "new", '{"x": [true, 1.5]}')[0]
    with SharedStore(path) as store:
        assert {"x": [True, 1.5]} == store.get("new")


def test_set_creates_a_missing_store(tmp_path: Path) -> None:
    path = str(tmp_path / "fresh.db")
    assert 0 == _run("set", path, "k", "1")[0]
    assert (0, "1\n") == _run("get", path, "k")[:2]


def test_set_with_invalid_json_fails_with_usage_error(path: str) -> None:
    code, _, err = _run("set", path, "k", "{not json")
    assert 2 == code
    assert "not valid JSON" in err


def test_keys_lists_every_key_sorted(path: str) -> None:
    assert (0, "cfg\nn\nraw\nwhen\n") == _run("keys", path)[:2]


def test_dump_prints_the_whole_store_as_one_json_object(path: str) -> None:
    code, out, _ = _run("dump", path)
    assert 0 == code
    assert {
        "cfg": {"a": [1, 2], "b": None},
        "n": 5,
        "raw": "AAE=",
        "when": "2024-01-02T03:04:05Z",
    } == json.loads(out)


def test_stats_prints_keys_and_codec(path: str) -> None:
    code, out, _ = _run("stats", path, "--json")
    facts = json.loads(out)
    assert (0, 4, "msgpack", "wal") == (code, facts["keys"], facts["codec"], facts["journal_mode"])
    assert "keys            4" in _run("stats", path)[1]


def test_a_file_that_is_not_a_store_fails_cleanly(tmp_path: Path) -> None:
    path = tmp_path / "junk.bin"
    path.write_bytes(b"\x00junk" * 100)
    code, out, err = _run("dump", str(path))
    assert (1, "") == (code, out)
    assert "not a stalwart store" in err
    assert "Traceback" not in err


def test_a_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    assert 2 == _run("keys", str(tmp_path / "absent.db"))[0]


def test_a_pickle_store_is_read_only_with_allow_pickle(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    with SharedStore(path, codec="pickle") as store:
        store.set("t", (1, "a"))
    code, _, err = _run("get", str(path), "t")
    assert 1 == code
    assert "--allow-pickle" in err
    assert (0, '[1,"a"]\n') == _run("get", str(path), "t", "--allow-pickle")[:2]
    assert (0, "t\n") == _run("keys", str(path))[:2]
