"""get_performance_stats and clear_all_caches."""

from __future__ import annotations

from stalwart.fallbacks import _locking, _schema, _stats

__all__ = ["clear_all_caches", "get_performance_stats"]


def get_performance_stats() -> dict[str, int | float]:
    """Return this process's counters.

    Keys: ``writes``, ``write_failures``, ``reads``, ``read_failures``,
    ``bytes_written``, ``bytes_read``, ``recoveries``, ``backups_rotated``,
    ``backups_skipped_invalid``, ``lock_waits`` (contended acquisitions),
    ``lock_wait_seconds``, ``invalid_lines_skipped``, ``validity_cache_hits``,
    ``validity_cache_misses``, ``validity_cache_size``, ``file_locks_count``,
    ``schema_decoders_cached`` (``read_json(type=...)`` decoders, at most
    ``SCHEMA_DECODER_CACHE_SIZE`` = 64), and ``sanitizer_cache_size``, the seed
    API's name, kept for its callers: the same number as ``validity_cache_size``
    (this package caches no sanitized data, only verdicts on file versions).

    Returns:
        A fresh dict; changing it changes nothing.

    """
    stats = _stats.snapshot()
    stats["file_locks_count"] = _locking.lock_count()
    stats["schema_decoders_cached"] = _schema.decoders_cached()
    stats["sanitizer_cache_size"] = stats["validity_cache_size"]
    return stats


def clear_all_caches() -> dict[str, int]:
    """Empty the validity cache and the schema decoder cache, drop idle per-path locks.

    The validity cache holds a verdict per file version, keyed by (device,
    inode, mtime_ns, size): clearing it costs one re-parse of a file the next
    time it is about to become a backup. Cached ``read_json(type=...)``
    decoders are rebuilt on next use.

    Returns:
        ``{"validity_cache": entries dropped, "file_locks": locks dropped,
        "schema_decoders": decoders dropped}``.

    """
    return {
        "validity_cache": _stats.validity_cache_clear(),
        "file_locks": _locking.prune_idle_locks(),
        "schema_decoders": _schema.clear_decoders(),
    }
