"""get_performance_stats and clear_all_caches."""

from __future__ import annotations

from pathlib import Path

from stalwart.fallbacks import clear_all_caches, get_performance_stats, read_json, write_json


def test_counters_move_with_writes_and_reads(tmp_path: Path) -> None:
    before = get_performance_stats()
    size = write_json({"a": 1}, tmp_path / "d.json")
    read_json(tmp_path / "d.json")
    after = get_performance_stats()
    assert before["writes"] + 1 == after["writes"]
    assert before["reads"] + 1 == after["reads"]
    assert before["bytes_written"] + size == after["bytes_written"]
    assert before["bytes_read"] + size == after["bytes_read"]


def test_stats_are_a_copy(tmp_path: Path) -> None:
    stats = get_performance_stats()
    stats["writes"] = -5
    assert -5 != get_performance_stats()["writes"]


def test_our_own_write_is_not_reparsed_before_becoming_a_backup(tmp_path: Path) -> None:
    write_json(list(range(10)), tmp_path / "d.json")
    hits = get_performance_stats()["validity_cache_hits"]
    write_json([1], tmp_path / "d.json")
    assert hits + 1 == get_performance_stats()["validity_cache_hits"]


def test_clear_all_caches_empties_the_validity_cache_and_idle_locks(tmp_path: Path) -> None:
    write_json([1], tmp_path / "d.json")
    cleared = clear_all_caches()
    assert cleared["validity_cache"] >= 1
    assert 0 == get_performance_stats()["validity_cache_size"]
    misses = get_performance_stats()["validity_cache_misses"]
    write_json([2], tmp_path / "d.json")  # the old file must be parsed again before the backup
    assert misses + 1 == get_performance_stats()["validity_cache_misses"]
    assert [1] == read_json(f"{tmp_path / 'd.json'}.1")


def test_the_seed_key_sanitizer_cache_size_is_the_validity_cache_size(tmp_path: Path) -> None:
    write_json([1], tmp_path / "d.json")
    stats = get_performance_stats()
    assert stats["validity_cache_size"] == stats["sanitizer_cache_size"]
    assert 1 <= stats["sanitizer_cache_size"]
