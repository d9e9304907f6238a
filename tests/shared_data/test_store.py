"""SharedStore's API in one process: mapping methods, atomic helpers, transactions, whole-document view."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import pytest
from stalwart.shared_data import (
    InvalidKeyError,
    NotAnIntegerError,
    SharedStore,
    StoreClosedError,
    UnsupportedValueError,
)


@pytest.fixture
def store(tmp_path: Path) -> SharedStore:
    return SharedStore(tmp_path / "store.db")


def test_get_returns_default_for_an_absent_key(store: SharedStore) -> None:
    assert "fallback" == store.get("missing", "fallback")
    assert store.get("missing") is None


def test_set_then_get_returns_the_value(store: SharedStore) -> None:
    store.set("cfg", {"a": [1, 2.5, None, True, "x", b"\x00"]})
    assert {"a": [1, 2.5, None, True, "x", b"\x00"]} == store.get("cfg")


def test_set_replaces_the_previous_value(store: SharedStore) -> None:
    store.set("k", 1)
    store.set("k", "two")
    assert "two" == store.get("k")


def test_mapping_protocol_methods(store: SharedStore) -> None:
    store["b"] = 2
    store["a"] = 1
    assert 1 == store["a"]
    assert "a" in store
    assert 42 not in store
    assert ["a", "b"] == store.keys() == list(store)
    assert [("a", 1), ("b", 2)] == store.items()
    assert 2 == len(store)
    del store["a"]
    with pytest.raises(KeyError):
        store["a"]
    with pytest.raises(KeyError):
        del store["a"]


def test_delete_reports_whether_the_key_existed(store: SharedStore) -> None:
    store.set("k", 1)
    assert store.delete("k") is True
    assert store.delete("k") is False


def test_clear_removes_every_key(store: SharedStore) -> None:
    store.save({"a": 1, "b": 2})
    store.clear()
    assert 0 == len(store)


def test_incr_starts_an_absent_key_at_zero_and_returns_the_new_value(store: SharedStore) -> None:
    assert 1 == store.incr("n")
    assert 6 == store.incr("n", 5)
    assert -4 == store.incr("n", -10)
    assert -4 == store.get("n")


def test_incr_past_64_bits_keeps_exact_python_ints_with_the_json_codec(tmp_path: Path) -> None:
    with SharedStore(tmp_path / "big.db", codec="json") as store:
        store.set("n", 2**63 - 1)
        assert 2**63 == store.incr("n")
        assert 2**63 + 1 == store.incr("n")
        assert 2**63 + 1 == store.get("n")


def test_incr_past_the_msgpack_range_is_refused_and_keeps_the_old_value(store: SharedStore) -> None:
    store.set("n", 2**64 - 1)
    with pytest.raises(UnsupportedValueError):
        store.incr("n")
    assert 2**64 - 1 == store.get("n")


@pytest.mark.parametrize("start", [None, 0, 5])
def test_incr_by_a_delta_beyond_64_bits_stores_what_the_codec_holds(store: SharedStore, start: int | None) -> None:
    if start is not None:
        store.set("z", start)
    assert (start or 0) + 2**63 == store.incr("z", 2**63)
    assert (start or 0) + 2**63 == store.get("z")


@pytest.mark.parametrize("delta", [2**64, -(2**64)])
def test_incr_whose_result_leaves_the_msgpack_range_is_a_typed_error_naming_the_key(
    store: SharedStore, delta: int
) -> None:
    store.set("z", 1)
    with pytest.raises(UnsupportedValueError, match=r"'z'.*64-bit"):
        store.incr("z", delta)
    assert 1 == store.get("z")


def test_incr_by_a_huge_delta_keeps_exact_ints_with_the_json_codec(tmp_path: Path) -> None:
    with SharedStore(tmp_path / "big.db", codec="json") as store:
        assert 2**70 == store.incr("n", 2**70)
        assert 2**70 - 1 == store.incr("n", -1)


def test_incr_of_a_non_integer_value_raises_naming_the_key(store: SharedStore) -> None:
    store.set("name", "text")
    with pytest.raises(NotAnIntegerError, match=r"'name'.*str"):
        store.incr("name")
    assert "text" == store.get("name")


@pytest.mark.parametrize("delta", [1.5, True, "1", None])
def test_incr_with_a_non_int_delta_raises(store: SharedStore, delta: Any) -> None:
    with pytest.raises(NotAnIntegerError, match="delta"):
        store.incr("n", delta)
    assert "n" not in store


def test_update_applies_fn_atomically_and_returns_the_new_value(store: SharedStore) -> None:
    assert [1] == store.update("list", lambda old: [*old, 1], default=[])
    assert [1, 2] == store.update("list", lambda old: [*old, 2], default=[])
    assert [1, 2] == store.get("list")


def test_update_whose_fn_raises_writes_nothing(store: SharedStore) -> None:
    store.set("k", 1)

    def boom(_: Any) -> Any:
        raise RuntimeError("no")

    with pytest.raises(RuntimeError):
        store.update("k", boom)
    assert 1 == store.get("k")


def test_update_returning_an_unsupported_value_writes_nothing(store: SharedStore) -> None:
    store.set("k", 1)
    with pytest.raises(UnsupportedValueError):
        store.update("k", lambda _: {1, 2})
    assert 1 == store.get("k")


def test_transaction_commits_every_write_together(store: SharedStore) -> None:
    with store.transaction() as tx:
        tx["a"] = 1
        tx.set("b", tx["a"] + 1)
        assert 3 == tx.incr("c", 3)
        assert {"a", "b", "c"} == set(tx)
        assert 3 == len(tx)
    assert {"a": 1, "b": 2, "c": 3} == store.load()


def test_exception_inside_transaction_rolls_back_everything(store: SharedStore) -> None:
    store.set("a", "before")

    def fail_midway() -> None:
        with store.transaction() as tx:
            tx["a"] = "inside"
            tx.delete("missing")
            tx["new"] = 1
            _ = 1 / 0

    with pytest.raises(ZeroDivisionError):
        fail_midway()
    assert {"a": "before"} == store.load()


def test_nested_transaction_failure_undoes_only_the_inner_block(store: SharedStore) -> None:
    with store.transaction() as outer:
        outer["outer"] = 1

        def fail_inside() -> None:
            with store.transaction() as inner:
                inner["inner"] = 1
                raise ValueError("inner")

        with pytest.raises(ValueError, match="inner"):
            fail_inside()
        assert "inner" not in outer
    assert {"outer": 1} == store.load()


def test_transaction_view_is_unusable_after_its_block(store: SharedStore) -> None:
    with store.transaction() as tx:
        tx["a"] = 1
    with pytest.raises(StoreClosedError):
        tx["a"]


def test_load_and_save_replace_the_whole_document(store: SharedStore) -> None:
    store.save({"a": 1, "b": {"c": [1]}})
    store.save({"b": 2})
    assert {"b": 2} == store.load()


def test_load_of_an_empty_store_returns_a_copy_of_default(store: SharedStore) -> None:
    default = {"fresh": True}
    loaded = store.load(default)
    assert default == loaded
    assert loaded is not default
    assert {} == store.load()


def test_save_with_one_bad_value_writes_nothing(store: SharedStore) -> None:
    store.save({"old": 1})
    with pytest.raises(UnsupportedValueError, match="'b'"):
        store.save({"a": 1, "b": object(), "c": 3})
    assert {"old": 1} == store.load()


def test_save_of_a_non_mapping_raises_type_error(store: SharedStore) -> None:
    with pytest.raises(TypeError, match="list"):
        store.save([("a", 1)])  # type: ignore[arg-type]


@pytest.mark.parametrize("key", [1, None, b"bytes", ("t",)])
def test_non_str_keys_are_refused(store: SharedStore, key: Any) -> None:
    with pytest.raises(InvalidKeyError, match=type(key).__name__):
        store.set(key, 1)
    with pytest.raises(InvalidKeyError):
        store.save({key: 1})
    assert 0 == len(store)


def test_closed_store_raises_and_closing_twice_is_fine(store: SharedStore) -> None:
    store.close()
    store.close()
    assert store.closed
    with pytest.raises(StoreClosedError, match="closed"):
        store.get("a")


def test_context_manager_closes_the_store(tmp_path: Path) -> None:
    with SharedStore(tmp_path / "s.db") as store:
        store.set("a", 1)
    assert store.closed


def test_pickled_store_reopens_the_same_file(store: SharedStore) -> None:
    store.set("a", 1)
    copy = pickle.loads(pickle.dumps(store))
    assert isinstance(copy, SharedStore)
    assert (store.path, 1) == (copy.path, copy.get("a"))
    copy.close()


def test_stats_describe_the_store(store: SharedStore) -> None:
    store.save({"a": 1, "b": 2})
    stats = store.stats()
    assert (store.path, "msgpack", 2, "wal", 1) == (
        stats.path,
        stats.codec,
        stats.keys,
        stats.journal_mode,
        stats.format_version,
    )
    assert stats.file_bytes > 0


@pytest.mark.parametrize("timeout", [0, -1.0])
def test_non_positive_timeout_is_refused(tmp_path: Path, timeout: float) -> None:
    with pytest.raises(ValueError, match="timeout"):
        SharedStore(tmp_path / "s.db", timeout=timeout)


def test_unknown_codec_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="yaml"):
        SharedStore(tmp_path / "s.db", codec="yaml")
    assert not (tmp_path / "s.db").exists()


def test_incr_on_an_sqlite_without_returning_falls_back_to_a_transaction(
    store: SharedStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stalwart.shared_data import _store

    monkeypatch.setattr(_store, "_HAS_RETURNING", False)
    assert 1 == store.incr("n")
    assert 11 == store.incr("n", 10)
