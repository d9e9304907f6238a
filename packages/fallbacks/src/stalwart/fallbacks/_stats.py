"""Process-wide counters and the file-validity cache (keyed by inode, mtime_ns and size)."""

from __future__ import annotations

import os
import threading
from collections import OrderedDict

__all__ = [
    "add_lock_wait",
    "count",
    "forget_validity",
    "is_known_valid",
    "remember_valid",
    "reset_after_fork",
    "snapshot",
    "validity_cache_clear",
]

_COUNTER_NAMES = (
    "writes",
    "write_failures",
    "reads",
    "read_failures",
    "bytes_written",
    "bytes_read",
    "recoveries",
    "backups_rotated",
    "backups_skipped_invalid",
    "lock_waits",
    "invalid_lines_skipped",
    "torn_lines_dropped",
    "validity_cache_hits",
    "validity_cache_misses",
)

#: How many files' validity is remembered; the oldest entries are dropped first.
VALIDITY_CACHE_SIZE = 1024

_lock = threading.Lock()
_counters: dict[str, int] = dict.fromkeys(_COUNTER_NAMES, 0)
_lock_wait_seconds = [0.0]
# A file's identity *and* content version: an atomic replace gives a new inode, an in-place
# edit changes mtime_ns or size. Never keyed by id(), which says nothing about content.
_FileKey = tuple[str, int, int, int, int, str]
_valid: OrderedDict[_FileKey, None] = OrderedDict()


def count(name: str, amount: int = 1) -> None:
    """Add ``amount`` to the counter ``name``."""
    with _lock:
        _counters[name] += amount


def add_lock_wait(seconds: float) -> None:
    """Record one contended lock acquisition that took ``seconds``."""
    with _lock:
        _counters["lock_waits"] += 1
        _lock_wait_seconds[0] += seconds


def _key(path: str, fmt: str, st: os.stat_result) -> _FileKey:
    return (path, st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size, fmt)


def remember_valid(path: str, fmt: str, st: os.stat_result) -> None:
    """Remember that the file ``path`` as described by ``st`` is a valid ``fmt`` file."""
    key = _key(path, fmt, st)
    with _lock:
        _valid[key] = None
        _valid.move_to_end(key)
        while len(_valid) > VALIDITY_CACHE_SIZE:
            _valid.popitem(last=False)


def is_known_valid(path: str, fmt: str, st: os.stat_result) -> bool:
    """Return True if this exact version of ``path`` was validated (or written) before."""
    key = _key(path, fmt, st)
    with _lock:
        hit = key in _valid
        _counters["validity_cache_hits" if hit else "validity_cache_misses"] += 1
    return hit


def forget_validity(path: str) -> None:
    """Drop every cached verdict about ``path``."""
    with _lock:
        for key in [key for key in _valid if key[0] == path]:
            del _valid[key]


def validity_cache_clear() -> int:
    """Empty the validity cache; return how many entries it held."""
    with _lock:
        size = len(_valid)
        _valid.clear()
    return size


def snapshot() -> dict[str, int | float]:
    """Return a copy of every counter plus the cache size and total lock wait time."""
    with _lock:
        stats: dict[str, int | float] = dict(_counters)
        stats["lock_wait_seconds"] = _lock_wait_seconds[0]
        stats["validity_cache_size"] = len(_valid)
    return stats


def reset_after_fork() -> None:
    """Give a forked child a fresh lock (the parent's may have been held by another thread)."""
    global _lock
    _lock = threading.Lock()
