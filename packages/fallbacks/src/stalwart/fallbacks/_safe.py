"""The forgiving API on top of the strict one: True/False or data/None, with the cause logged.

These functions never raise for I/O, damage or encoding problems; they log the
cause on the ``stalwart.fallbacks`` logger and report failure honestly (False,
or the ``default``). The ``async_*`` variants run the same code in a worker
thread (as :func:`asyncio.to_thread` does), so the event loop is never blocked;
cancelling a write stops it before its commit point (see :func:`async_write_json`).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Iterable, Mapping
from typing import Any

from stalwart.fallbacks._cancel import run_cancellable
from stalwart.fallbacks._csvfile import read_csv, write_csv
from stalwart.fallbacks._errors import FallbacksError, UnsupportedTypeError
from stalwart.fallbacks._jsonfile import append_jsonl, encode_jsonl_lines, read_json, write_json
from stalwart.fallbacks._recovery import recover_json

__all__ = [
    "async_read_json",
    "async_safe_read_csv",
    "async_safe_read_json",
    "async_safe_write_csv",
    "async_safe_write_json",
    "async_write_json",
    "safe_read_csv",
    "safe_read_json",
    "safe_write_csv",
    "safe_write_json",
]

_log = logging.getLogger("stalwart.fallbacks")

# What the strict API raises for bad data or a failing disk; anything else (a wrong
# argument, a bug) propagates instead of being reported as a mere failed write.
_EXPECTED = (FallbacksError, OSError)


def _salvage_path(path: str | os.PathLike[str]) -> str:
    """Return where a failed :func:`safe_write_json` of records appends them: ``<path>.jsonl``."""
    return os.fspath(path) + ".jsonl"


def _salvage_hint(path: str | os.PathLike[str]) -> str:
    """Return a note naming ``<path>.jsonl`` if it exists (nothing reads it back), else ``""``."""
    jsonl_path = _salvage_path(path)
    if not os.path.exists(jsonl_path):
        return ""
    return (
        f"; records of failed safe_write_json calls may be in {jsonl_path} (each failed write appended"
        " its whole list; nothing reads it back: see iter_jsonl)"
    )


def _salvage_to_jsonl(records: list[Any], path: str | os.PathLike[str], nan: Any) -> None:
    jsonl_path = _salvage_path(path)
    good: list[Any] = []
    for index, record in enumerate(records):
        try:
            encode_jsonl_lines([record], nan)
        except UnsupportedTypeError as exc:
            # The one-record list put [0] in front of the path; the record is really at [index].
            exc.value_path = f"$[{index}]" + exc.value_path.removeprefix("$[0]")
            _log.error("record %d cannot be encoded, not salvaged: %s", index, exc)
            continue
        good.append(record)
    if not good:
        _log.error("none of the %d records could be salvaged to %s", len(records), jsonl_path)
        return
    try:
        append_jsonl(good, jsonl_path, nan=nan)
    except _EXPECTED as exc:
        _log.error("fallback to %s failed too: %s", jsonl_path, exc)
        return
    _log.warning(
        "JSON write of %s failed; appended %d of %d records to %s instead",
        path,
        len(good),
        len(records),
        jsonl_path,
    )


def safe_write_json(data: Any, path: str | os.PathLike[str], **options: Any) -> bool:
    """Write like :func:`write_json`, returning False instead of raising.

    If the write fails and ``data`` is a list of records, every record that can
    be encoded is appended to ``<path>.jsonl`` (and the log says how many); the
    return value is still False, because ``path`` itself was not written. That
    file is append-only: each failed write appends its whole list again (a
    record in several failed snapshots is there several times), and nothing
    reads it back — :func:`safe_read_json` only names it in its log when it
    finds nothing else; read it with :func:`iter_jsonl`.

    Args:
        data: The data.
        path: Target file.
        **options: Passed to :func:`write_json` (``durable``, ``backups``, ``indent``,
            ``nan``, ...).

    Returns:
        True if ``path`` now holds ``data``; False otherwise (cause logged).

    """
    try:
        write_json(data, path, **options)
    except _EXPECTED as exc:
        _log.error("safe_write_json: %s", exc)
        if isinstance(data, list) and data:
            _salvage_to_jsonl(data, path, options.get("nan", "raise"))
        return False
    return True


def safe_read_json(path: str | os.PathLike[str], default: Any = None) -> Any:
    """Read like :func:`read_json`; on damage, return what :func:`recover_json` salvages.

    Args:
        path: The file.
        default: Returned when nothing can be read or recovered (also for a damaged
            array that yields no element and has no valid backup: ``[]`` would pass
            for real data; a valid backup holding ``[]`` is returned as such).

    Returns:
        The data, the salvaged data (recovery logged as a warning), or ``default``
        (logged as an error, naming ``<path>.jsonl`` if a failed
        :func:`safe_write_json` left records there: they are not read back).

    """
    try:
        return read_json(path)
    except _EXPECTED as exc:
        _log.warning("safe_read_json: %s; trying recovery", exc)
    try:
        report = recover_json(path)
    except _EXPECTED as exc:
        _log.error("safe_read_json: nothing recoverable: %s%s", exc, _salvage_hint(path))
        return default
    if report.method == "array" and report.recovered == 0:
        # A damaged array that yields nothing ("[" cut before its first element): an empty
        # list would look like real, empty data (a valid backup holding [] is real data).
        _log.error("safe_read_json: nothing recoverable from %s: %s%s", path, report.summary(), _salvage_hint(path))
        return default
    _log.warning("safe_read_json(%s): %s", path, report.summary())
    return report.data


def safe_write_csv(rows: Iterable[Mapping[str, Any]], path: str | os.PathLike[str], **options: Any) -> bool:
    """Write like :func:`write_csv`, returning False (cause logged) instead of raising.

    The ``ValueError`` of :func:`write_csv` (rows CSV cannot hold, ``fieldnames``
    naming a column twice, an unusable delimiter) is a False too.
    """
    try:
        write_csv(rows, path, **options)
    except (*_EXPECTED, ValueError) as exc:
        _log.error("safe_write_csv: %s", exc)
        return False
    return True


def safe_read_csv(path: str | os.PathLike[str], **options: Any) -> list[dict[str, Any]] | None:
    """Read like :func:`read_csv`, returning None (cause logged) instead of raising."""
    try:
        return read_csv(path, **options)
    except _EXPECTED as exc:
        _log.error("safe_read_csv: %s", exc)
        return None


async def async_write_json(data: Any, path: str | os.PathLike[str], **options: Any) -> int:
    """:func:`write_json` in a worker thread; raises the same errors.

    Cancellable: a cancellation stops the write at its next check point (waiting
    for the lock, once it is held, after the temp file is written and synced) and
    ``CancelledError`` propagates once the worker has stopped: the old file is
    intact and no temp file is left. A cancellation after the commit point (backup
    rotation and ``os.replace``) cannot undo it: the write completes, logged as a
    warning, and ``CancelledError`` still propagates. A large temp file is written
    out before the check after it.
    """
    return await run_cancellable(write_json, data, path, **options)


async def async_read_json(path: str | os.PathLike[str], **options: Any) -> Any:
    """:func:`read_json` in a worker thread (``type=`` too); raises the same errors."""

    def read() -> Any:
        return read_json(path, **options)

    return await asyncio.to_thread(read)


async def async_safe_write_json(data: Any, path: str | os.PathLike[str], **options: Any) -> bool:
    """:func:`safe_write_json` in a worker thread; cancellable as :func:`async_write_json`.

    A cancelled write is no failed one: nothing is appended to ``<path>.jsonl``.
    """
    return await run_cancellable(safe_write_json, data, path, **options)


async def async_safe_read_json(path: str | os.PathLike[str], default: Any = None) -> Any:
    """:func:`safe_read_json` in a worker thread."""
    return await asyncio.to_thread(safe_read_json, path, default)


async def async_safe_write_csv(
    rows: Iterable[Mapping[str, Any]], path: str | os.PathLike[str], **options: Any
) -> bool:
    """:func:`safe_write_csv` in a worker thread; cancellable as :func:`async_write_json`."""
    return await run_cancellable(safe_write_csv, rows, path, **options)


async def async_safe_read_csv(path: str | os.PathLike[str], **options: Any) -> list[dict[str, Any]] | None:
    """:func:`safe_read_csv` in a worker thread."""
    return await asyncio.to_thread(safe_read_csv, path, **options)
