"""A file handler that rotates by size and/or time and compresses what it rotates out."""

from __future__ import annotations

import contextlib
import gzip
import io
import logging
import logging.handlers
import math
import os
import re
import shutil
import time
from collections.abc import Callable
from typing import IO, Any

from stalwart.monitoring._errors import MissingDependencyError, MonitoringConfigError
from stalwart.monitoring._guard import GuardedHandler

__all__ = ["CompressedRotatingFileHandler", "open_archive"]

_SUFFIXES = {"gzip": ".gz", "zstd": ".zst", "none": ""}


def _zstandard() -> Any:
    try:
        import zstandard
    except ImportError as exc:
        raise MissingDependencyError("zstd compression", "zstandard", "zstd") from exc
    return zstandard


def open_archive(path: str | os.PathLike[str]) -> IO[bytes]:
    """Open a rotated log file for reading, decompressing ``.gz`` / ``.zst`` transparently.

    Args:
        path: An archive made by :class:`CompressedRotatingFileHandler`.

    Returns:
        A binary file object with the original bytes.

    Raises:
        MissingDependencyError: For a ``.zst`` file without zstandard installed.
    """
    name = os.fspath(path)
    if name.endswith(".gz"):
        return gzip.open(name, "rb")  # type: ignore[return-value]  # GzipFile is a binary IO
    if name.endswith(".zst"):
        raw = open(name, "rb")  # noqa: SIM115 - returned to the caller, who closes it
        return _zstandard().ZstdDecompressor().stream_reader(raw, closefd=True)  # type: ignore[no-any-return]
    return open(name, "rb")


def _abandoned(pid: int) -> bool:
    """Whether a set-aside file of process ``pid`` is left over: ours (a failed earlier try) or a dead one's."""
    if pid == os.getpid():
        return True
    if os.name == "nt":  # pragma: no cover - os.kill(pid, 0) would send CTRL_C_EVENT there
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, another user's
    return False


class CompressedRotatingFileHandler(GuardedHandler, logging.handlers.BaseRotatingHandler):
    """Write to a file; rotate it by size and/or age; keep ``backup_count`` compressed archives.

    On rotation the file is renamed aside (atomic), a new file is opened, and
    the old one is compressed to ``<file>.1.gz`` (or ``.zst``) through a
    temporary file and ``os.replace``, after older archives shift up by one
    (``.1`` -> ``.2`` ...); archives beyond ``backup_count`` are deleted.
    Compression runs on the logging thread during rotation. A file set aside
    by a rotation that did not finish (the process was killed, or compression
    failed, e.g. on a full disk) is archived by the next rotation, before the
    current file, so nothing is lost and ``backup_count`` still holds.

    Args:
        filename: The log file.
        max_bytes: Rotate before a record would make the file larger than this; 0 = no size limit.
        interval: Rotate at every multiple of this many seconds since the Unix epoch
            (86400: at UTC midnight, 3600: on the hour), so a restarted process keeps
            the schedule; a file last written before the current period is rotated
            by the first record. ``None`` = no time rotation.
        backup_count: How many archives to keep (0 = keep none).
        compression: ``"gzip"`` (default), ``"zstd"`` (needs the ``zstd`` extra) or ``"none"``.
        encoding: Text encoding of the file.
        delay: Open the file only when the first record arrives.
        clock: Wall clock in seconds for time rotation (injectable for tests).

    Raises:
        MonitoringConfigError: On an unknown compression or a negative size or count.
        MissingDependencyError: For ``"zstd"`` without zstandard installed.
    """

    def __init__(
        self,
        filename: str | os.PathLike[str],
        max_bytes: int = 0,
        interval: float | None = None,
        backup_count: int = 5,
        compression: str = "gzip",
        encoding: str = "utf-8",
        delay: bool = False,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if compression not in _SUFFIXES:
            raise MonitoringConfigError("compression", compression, _SUFFIXES)
        if compression == "zstd":
            _zstandard()
        if max_bytes < 0:
            raise MonitoringConfigError("max_bytes", max_bytes, ["an integer >= 0"])
        if backup_count < 0:
            raise MonitoringConfigError("backup_count", backup_count, ["an integer >= 0"])
        if interval is not None and not interval > 0:
            raise MonitoringConfigError("interval", interval, ["None", "a number of seconds > 0"])
        # backslashreplace: a lone surrogate (an undecodable file name) is written as \udcxx, not lost.
        logging.handlers.BaseRotatingHandler.__init__(
            self, filename, "a", encoding=encoding, delay=delay, errors="backslashreplace"
        )
        self.max_bytes = int(max_bytes)
        self.interval = interval
        self.backup_count = int(backup_count)
        self.compression = compression
        self.suffix = _SUFFIXES[compression]
        self._clock = clock
        self._rollover_at = float("inf")
        if interval is not None:
            now = clock()
            self._rollover_at = self._next_boundary(now)
            with contextlib.suppress(OSError):  # no file yet: its period starts now
                if os.path.getsize(self.baseFilename) > 0:
                    # The file holds content written before now: rotate at the first boundary after its
                    # last write, which is in the past when the process was down over a boundary. A
                    # modification time not before now (another clock) still dates the content before now.
                    written = os.path.getmtime(self.baseFilename)
                    self._rollover_at = (
                        self._next_boundary(written) if written < now else math.ceil(now / interval) * interval
                    )
        self.rotations = 0

    def _next_boundary(self, now: float) -> float:
        """Return the first multiple of ``interval`` after ``now``: the schedule survives restarts."""
        assert self.interval is not None
        return (now // self.interval + 1) * self.interval

    def archive_path(self, index: int) -> str:
        """Return the path of archive number ``index`` (1 = newest)."""
        return f"{self.baseFilename}.{index}{self.suffix}"

    def archives(self) -> list[str]:
        """Return the existing archives, newest first."""
        return [
            self.archive_path(i)
            for i in range(1, self.backup_count + 1)
            if os.path.exists(self.archive_path(i))
        ]

    def shouldRollover(self, record: logging.LogRecord) -> bool:
        """Return whether writing ``record`` must first rotate the file."""
        return self._rollover_due(lambda: self.format(record) + self.terminator)

    def _rollover_due(self, text: Callable[[], str]) -> bool:
        """Return whether writing ``text()`` (called only if the size matters) must first rotate the file."""
        if self._clock() >= self._rollover_at:
            return True
        if self.max_bytes <= 0:
            return False
        position = self._opened().tell()
        if position == 0:
            return False
        size = len(text().encode(self.encoding or "utf-8", "backslashreplace"))
        return position + size > self.max_bytes

    def doRollover(self) -> None:
        """Rotate now: rename the file aside, reopen, compress and prune archives."""
        if self.stream is not None:
            self.stream.close()
            self.stream = None
        if self.interval is not None:
            self._rollover_at = self._next_boundary(self._clock())
        base = self.baseFilename
        if os.path.exists(base) and os.path.getsize(base) > 0:
            # Files set aside by a rotation that did not finish (killed, or compression failed) are
            # older than this one: archived first, oldest first, so the order of archives holds.
            unfinished = self._unfinished()
            # Unique, so a rotation that failed to compress never has its file overwritten by the next.
            aside = f"{base}.rotating-{os.getpid()}-{time.time_ns()}"
            os.replace(base, aside)
            if not self.delay:
                self.stream = self._open()
            for pending in [*unfinished, aside]:
                self._archive(pending)
            self.rotations += 1
        elif not self.delay:
            self.stream = self._open()

    def _archive(self, aside: str) -> None:
        """Make ``aside`` archive number 1 (older archives shift up; beyond ``backup_count`` they go)."""
        if self.backup_count == 0:
            os.remove(aside)
            return
        for index in range(self.backup_count - 1, 0, -1):
            source = self.archive_path(index)
            if os.path.exists(source):
                os.replace(source, self.archive_path(index + 1))
        self._compress(aside, self.archive_path(1))

    def _unfinished(self) -> list[str]:
        """Return this file's set-aside files no live process is still archiving, oldest first.

        Also removes half-written compressed temp files of such rotations.
        """
        directory, name = os.path.split(self.baseFilename)
        # Only this handler's own archive temp names (app.log.3.gz.tmp-123), not app.log.debug's.
        suffixes = "|".join(re.escape(suffix) for suffix in _SUFFIXES.values())  # also from another setting
        temp_name = re.compile(rf"{re.escape(name)}\.\d+(?:{suffixes})\.tmp-\d+")
        found: list[tuple[int, str]] = []
        for entry in os.listdir(directory or "."):
            if entry.startswith(f"{name}.rotating-"):
                pid, _, stamp = entry[len(name) + len(".rotating-") :].partition("-")
                if pid.isdigit() and stamp.isdigit() and _abandoned(int(pid)):
                    found.append((int(stamp), os.path.join(directory, entry)))
            elif temp_name.fullmatch(entry):
                pid = entry.rpartition(".tmp-")[2]
                if _abandoned(int(pid)):
                    with contextlib.suppress(FileNotFoundError):
                        os.remove(os.path.join(directory, entry))
        return [path for _, path in sorted(found)]

    def _compress(self, source: str, target: str) -> None:
        temp = f"{target}.tmp-{os.getpid()}"
        with open(source, "rb") as src, open(temp, "wb") as raw:
            if self.compression == "gzip":
                with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as packed:
                    shutil.copyfileobj(src, packed, 1 << 20)
            elif self.compression == "zstd":
                with _zstandard().ZstdCompressor().stream_writer(raw, closefd=False) as packed:
                    shutil.copyfileobj(src, packed, 1 << 20)
            else:
                shutil.copyfileobj(src, raw, 1 << 20)
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(temp, target)
        os.remove(source)

    def _opened(self) -> io.TextIOWrapper:
        """Return the file's stream, opening it if needed (delay=True, after a rotation or a close)."""
        if self.stream is None:
            self.stream = self._open()
        return self.stream

    def emit(self, record: logging.LogRecord) -> None:
        """Rotate if due, then write ``record``; failures go to ``handleError`` once per cause.

        A failed rotation (e.g. a full disk while compressing) does not lose
        the record: it is still written to the current file. A record that
        cannot be formatted, or a file that cannot be opened or written, is
        one ``handleError`` per record: nothing raises into the caller.
        """
        try:
            # Formatted once, for the size check and the write (a record that fails is one failure).
            text = self.format(record) + self.terminator
            # Opened here, not in the size check: a file that cannot be opened is one failure, not two.
            self._opened()
            try:
                if self._rollover_due(lambda: text):
                    self.doRollover()
            except RecursionError:
                raise
            except Exception:  # noqa: BLE001 - the record is still written below
                self.handleError(record)
            self._opened().write(text)  # reopened if the rotation closed it (delay=True)
            self.flush()
        except RecursionError:  # as stdlib handlers: a recursion is a bug to see, not a write failure
            raise
        except Exception:  # noqa: BLE001 - a handler must not raise into the caller
            self.handleError(record)
