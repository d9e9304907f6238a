"""Opening a file: a store is recognised; anything else is NotAStoreError; damage is CorruptStoreError."""

from __future__ import annotations

import os
import pickle
import sqlite3
from pathlib import Path

import pytest
from stalwart.shared_data import (
    CodecMismatchError,
    CorruptStoreError,
    NotAStoreError,
    SharedDataError,
    SharedStore,
)


def _filled_store(path: Path, keys: int = 2000) -> None:
    with SharedStore(path) as store:
        store.save({f"key{i:05d}": {"i": i, "pad": "x" * 50} for i in range(keys)})


def _sql(path: Path, *statements: str) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        for statement in statements:
            conn.execute(statement)
    finally:
        conn.close()


def test_a_new_path_becomes_a_store_and_reopens(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    with SharedStore(path) as store:
        store.set("a", 1)
    with SharedStore(path) as store:
        assert 1 == store.get("a")


def test_an_empty_file_becomes_a_store(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    path.touch()
    with SharedStore(path) as store:
        store.set("a", 1)
        assert 1 == store.get("a")


@pytest.mark.parametrize(
    "content",
    [os.urandom(4096), b"just some text\n", pickle.dumps({"seed": "pickle file"}), b"SQLite"],
    ids=["random-bytes", "text", "seed-pickle", "short-prefix"],
)
def test_a_file_that_is_not_sqlite_is_not_a_store(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "other.bin"
    path.write_bytes(content)
    with pytest.raises(NotAStoreError, match="not an SQLite file") as caught:
        SharedStore(path)
    assert str(path) == caught.value.path
    assert content == path.read_bytes()  # untouched


def test_another_applications_sqlite_database_is_not_a_store(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    _sql(path, "CREATE TABLE users (name TEXT)", "INSERT INTO users VALUES ('ada')")
    with pytest.raises(NotAStoreError, match="not a stalwart store"):
        SharedStore(path)


def test_an_sqlite_database_with_a_foreign_application_id_is_not_a_store(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    _sql(path, "PRAGMA application_id = 1234")
    with pytest.raises(NotAStoreError, match="0x4d2"):
        SharedStore(path)


def test_a_directory_is_not_a_store(tmp_path: Path) -> None:
    with pytest.raises(NotAStoreError, match="directory"):
        SharedStore(tmp_path)


@pytest.mark.parametrize(
    ("tamper", "error", "match"),
    [
        (
            "UPDATE stalwart_meta SET value = '99' WHERE name = 'version'",
            NotAStoreError,
            "version 99 is newer",
        ),
        ("DROP TABLE stalwart_meta", CorruptStoreError, "meta table is missing"),
        ("DELETE FROM stalwart_meta WHERE name = 'codec'", CorruptStoreError, "meta table is damaged"),
    ],
    ids=["newer-format", "meta-table-dropped", "codec-row-deleted"],
)
def test_a_store_with_a_tampered_meta_table_is_refused(
    tmp_path: Path, tamper: str, error: type[Exception], match: str
) -> None:
    path = tmp_path / "tampered.db"
    SharedStore(path).close()
    _sql(path, tamper)
    with pytest.raises(error, match=match):
        SharedStore(path)


@pytest.mark.parametrize("damage", ["overwrite-middle", "truncate"])
def test_a_damaged_store_raises_corrupt_never_an_empty_dict(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "damaged.db"
    _filled_store(path)
    size = path.stat().st_size
    with path.open("r+b") as file:
        if damage == "truncate":
            file.truncate(size // 3)
        else:
            file.seek(4096)  # keep the header page, wreck the table pages
            file.write(bytes(range(256)) * ((size - 4096) // 256))
    with pytest.raises(CorruptStoreError, match="damaged") as caught, SharedStore(path) as store:
        store.load()
    assert str(path) == caught.value.path


def test_an_undecodable_value_raises_corrupt_naming_the_key(tmp_path: Path) -> None:
    path = tmp_path / "badvalue.db"
    with SharedStore(path) as store:
        store.set("good", [1])
    _sql(path, "INSERT INTO kv VALUES ('bad', x'c1c1c1')")
    with SharedStore(path) as store:
        assert [1] == store.get("good")
        with pytest.raises(CorruptStoreError, match="'bad'") as caught:
            store.load()
        assert "bad" == caught.value.key


def test_a_cell_of_a_type_the_store_never_writes_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "badcell.db"
    SharedStore(path).close()
    _sql(path, "INSERT INTO kv VALUES ('text', 'plain text')")
    with SharedStore(path) as store, pytest.raises(CorruptStoreError, match="str cell"):
        store.get("text")


def test_opening_with_another_codec_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "codec.db"
    SharedStore(path, codec="json").close()
    with pytest.raises(CodecMismatchError, match="'json'") as caught:
        SharedStore(path)
    assert ("json", "msgpack") == (caught.value.stored, caught.value.requested)


def test_codec_none_accepts_the_stores_own_codec(tmp_path: Path) -> None:
    path = tmp_path / "codec.db"
    SharedStore(path, codec="json").close()
    with SharedStore(path, codec=None) as store:
        assert "json" == store.codec


def test_a_path_in_a_missing_directory_raises_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "no" / "such" / "dir.db"
    with pytest.raises(SharedDataError, match=r"dir\.db"):
        SharedStore(path)


def test_wal_mode_is_on(tmp_path: Path) -> None:
    path = tmp_path / "wal.db"
    SharedStore(path).close()
    conn = sqlite3.connect(path)
    try:
        assert ("wal",) == conn.execute("PRAGMA journal_mode").fetchone()
    finally:
        conn.close()


@pytest.mark.parametrize("durable", [True, False])
def test_durable_selects_synchronous_full_over_normal(tmp_path: Path, durable: bool) -> None:
    with SharedStore(tmp_path / "d.db", durable=durable) as store:
        store.set("a", 1)
        assert durable == store.stats().durable
