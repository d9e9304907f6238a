"""Atomic, durable replacement of a file's content, with validated backup generations.

Steps, all under the file's lock (see :mod:`._locking`):

1. write the new bytes to a unique temp file in the target's directory
   (``mkstemp``: two targets, or two writers, never share a temp name), named
   ``.<name>~w<8 random>.tmp`` (``~b`` for a backup's link), so the temps of one
   target are told apart from every other target's (``log`` vs ``log.1``);
2. ``fsync`` it and give it the target's permission bits;
3. if backups are wanted and the current file is valid, shift ``path.1`` ->
   ``path.2`` ... and hard-link the current file as ``path.1``;
4. ``os.replace`` the temp file over the target, then ``fsync`` the directory.

Any failure removes the temp file and leaves the target as it was. A symlink
target is written through: the file it points to is replaced and the link stays.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import stat
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from stalwart.fallbacks import _stats
from stalwart.fallbacks._cancel import check_cancelled
from stalwart.fallbacks._errors import WriteError
from stalwart.fallbacks._locking import DEFAULT_LOCK_TIMEOUT, file_lock
from stalwart.fallbacks._validate import Format, find_problem
from stalwart.fallbacks._written_as import record_written_as, recorded_format

__all__ = [
    "Chunks",
    "Prepare",
    "Unconfirmed",
    "atomic_write",
    "backup_paths",
    "counted_write",
    "fsync_directory",
    "is_valid_file",
    "resolve_target",
    "write_all",
]

_log = logging.getLogger("stalwart.fallbacks")

Chunks = Sequence[bytes | bytearray | memoryview]
#: Makes the content under the lock: the chunks, and the ``confirm`` check to run while they are written.
#: If that check fails, it is called once more, under the same lock, and must then return content
#: that needs no check.
Prepare = Callable[[], tuple[Chunks, Callable[[], bool] | None]]


class Unconfirmed(Exception):
    """``atomic_write``'s ``confirm`` said no: nothing was replaced and no temp file is left."""


def resolve_target(path: str | os.PathLike[str]) -> str:
    """Return the absolute real path to write: symlinks are followed, so the link survives."""
    return os.path.realpath(os.fspath(path))


def backup_paths(real_path: str, generations: int) -> list[str]:
    """Return ``[path.1, ..., path.N]``, newest first."""
    return [f"{real_path}.{number}" for number in range(1, generations + 1)]


def fsync_directory(directory: str) -> None:
    """Make a rename in ``directory`` durable (no-op where directories cannot be opened)."""
    if os.name == "nt":  # pragma: no cover - Windows has no directory fsync
        return
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _current_umask() -> int:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        _log.debug("no /proc/self/status; probing the umask with os.umask")
    # Portable but briefly changes the process umask (racy with threads creating files).
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _temp_prefix(name: str, kind: str) -> str:
    """Return the ``mkstemp`` prefix of a temp file of target ``name``.

    ``kind`` is ``"w"`` (the new content) or ``"b"`` (a backup being linked).
    The name always ends ``~<kind><8 random>.tmp``: the fixed-length tail can be
    cut off exactly, so no other target's temp (``log.1``'s, ``log~b``'s) ever
    matches the pattern of ``log``.
    """
    return f".{name}~{kind}"


def _remove_stale_temps(directory: str, name: str) -> None:
    """Delete temp files a killed writer of ``name`` left behind.

    Only called with the file's lock held: no live writer of ``name`` can own
    them, and both kinds (content and backup link) are made under that lock.
    """
    pattern = re.compile(re.escape(f".{name}~") + r"[wb][a-z0-9_]{8}\.tmp")
    with os.scandir(directory) as entries:
        stale = [entry.path for entry in entries if pattern.fullmatch(entry.name)]
    for temp in stale:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        _log.info("removed %s, left behind by a writer that was killed", temp)


@contextmanager
def counted_write(real_path: str) -> Iterator[None]:
    """Count a failed write and turn a raw ``OSError`` into a ``WriteError`` naming the file."""
    try:
        yield
    except WriteError:
        _stats.count("write_failures")
        raise
    except OSError as exc:
        _stats.count("write_failures")
        raise WriteError(real_path, str(exc)) from exc


def write_all(fd: int, chunks: Chunks) -> int:
    """Write every chunk to ``fd`` (``os.write`` may write less than asked); return the total."""
    written = 0
    for chunk in chunks:
        view = memoryview(chunk).cast("B")
        while view:
            count = os.write(fd, view)
            view = view[count:]
            written += count
    return written


def is_valid_file(real_path: str, fmt: Format) -> bool:
    """Return True if ``real_path`` parses as ``fmt`` (cached by inode, mtime_ns and size)."""
    try:
        st = os.stat(real_path)
    except FileNotFoundError:
        return False
    if _stats.is_known_valid(real_path, fmt, st):
        return True
    with open(real_path, "rb") as handle:
        raw = handle.read()
    if find_problem(raw, fmt) is not None:
        return False
    _stats.remember_valid(real_path, fmt, st)
    return True


def _link_or_copy(source: str, destination: str) -> None:
    """Make ``destination`` (a backup of ``source``) a hard link to it, or a copy."""
    directory = os.path.dirname(destination)
    # Named after the target, not the backup: ".log.1~..." would be a temp of target "log.1".
    prefix = _temp_prefix(os.path.basename(source), "b")
    fd, temp = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=directory)
    os.close(fd)
    try:
        os.unlink(temp)
        try:
            os.link(source, temp)
        except OSError:
            # Filesystems without hard links (FAT, some network mounts): copy instead.
            shutil.copy2(source, temp)
        os.replace(temp, destination)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise


def _rotate_backups(real_path: str, generations: int, fmt: Format) -> None:
    if not os.path.exists(real_path):
        return
    # The exact CSV format that wrote the file, when recorded and the file is unchanged since, beats a
    # guess; only for a CSV writer (a JSON write after a CSV one must still find the file no valid JSON).
    if fmt.startswith("csv"):
        fmt = recorded_format(real_path) or fmt
    if not is_valid_file(real_path, fmt):
        _stats.count("backups_skipped_invalid")
        _log.warning(
            "not backing up %s: its current content is not valid %s; existing backups kept",
            real_path,
            fmt,
        )
        return
    paths = backup_paths(real_path, generations)
    for older, newer in zip(reversed(paths[1:]), reversed(paths[:-1]), strict=True):
        if os.path.exists(newer):
            os.replace(newer, older)
    _link_or_copy(real_path, paths[0])
    _stats.count("backups_rotated")


def atomic_write(
    path: str | os.PathLike[str],
    chunks: Chunks | Prepare,
    *,
    fmt: Format,
    durable: bool = True,
    backups: int = 0,
    lock_timeout: float | None = DEFAULT_LOCK_TIMEOUT,
    valid: bool = True,
    confirm: Callable[[], bool] | None = None,
    written_as: Format | None = None,
) -> int:
    """Replace the content of ``path`` with ``chunks``, atomically.

    Args:
        path: The file to write (a symlink is followed).
        chunks: The new content, in pieces; or a function called once the lock
            is held that returns them and a ``confirm`` check (or None), so
            content taken from mutable data is made, and checked, from the data
            as it is when it is written. If its check fails, the function is
            called a second time, under the same lock, and what it returns then
            (with no check) is written instead.
        fmt: The file's format, used to validate the current file before it becomes a backup.
        durable: ``fsync`` the file and its directory (off: atomic but not crash-durable).
        backups: How many backup generations to keep.
        lock_timeout: Seconds to wait for the file's lock; ``None`` waits forever.
        valid: Whether ``chunks`` are known-valid ``fmt`` content (then cached as such).
        confirm: A last check that the content may be committed, run in this thread
            while a worker thread writes and syncs the temp file (the I/O releases the
            GIL, so the check's time hides the disk's); the target is replaced only
            if it returns True.
        written_as: The exact format of ``chunks`` when ``fmt`` only guesses (CSV: the
            delimiter), recorded for the next writer's backup check.

    Returns:
        The number of bytes written.

    Raises:
        WriteError: Anything went wrong; the old content of ``path`` is intact and no
            temp file is left.
        Unconfirmed: ``confirm`` returned False; the old content is intact, no temp
            file is left.
        WriteCancelled: The ``async_*`` call running this write was cancelled before
            the commit point (backup rotation and ``os.replace``); the old content is
            intact, no temp file is left.

    """
    if backups < 0:
        raise ValueError(f"backups must be >= 0, not {backups}")
    real_path = resolve_target(path)
    directory, name = os.path.split(real_path)
    with counted_write(real_path), file_lock(real_path, lock_timeout):
        check_cancelled(real_path)  # an async_* call cancelled while this waited for the lock
        prepare: Prepare | None = None
        if callable(chunks):
            prepare = chunks
            chunks, confirm = prepare()
        _remove_stale_temps(directory, name)
        try:
            fd, temp = tempfile.mkstemp(prefix=_temp_prefix(name, "w"), suffix=".tmp", dir=directory)
        except OSError as exc:
            raise WriteError(real_path, f"cannot create a temp file in {directory}: {exc}") from exc
        try:
            try:
                if confirm is None:
                    written = _fill_temp(fd, chunks, real_path, durable)
                else:
                    refill = False
                    try:
                        written = _fill_temp_while(confirm, fd, chunks, real_path, durable)
                    except Unconfirmed:
                        if prepare is None:
                            raise
                        refill = True
                    if refill:
                        # Outside the except block, so its traceback no longer holds the rejected payload,
                        # and dropped before the exact one is made: the two never sit in memory together.
                        assert prepare is not None
                        chunks, confirm = (), None
                        # Still under the lock: the content that needs no check, in the same temp file.
                        chunks, confirm = prepare()
                        if confirm is not None:
                            raise Unconfirmed
                        os.ftruncate(fd, 0)
                        os.lseek(fd, 0, os.SEEK_SET)
                        written = _fill_temp(fd, chunks, real_path, durable)
            finally:
                os.close(fd)
            # The commit point: past it, backups rotate and the file is replaced, cancelled or not.
            check_cancelled(real_path)
            if backups:
                _rotate_backups(real_path, backups, fmt)
            os.replace(temp, real_path)
            if written_as is not None:
                record_written_as(real_path, written_as)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
            raise
        if durable:
            fsync_directory(directory)
        if valid:
            st = os.stat(real_path)
            _stats.remember_valid(real_path, fmt, st)
            if written_as is not None:
                _stats.remember_valid(real_path, written_as, st)  # what the next write checks it as
        else:
            _stats.forget_validity(real_path)
    _stats.count("writes")
    _stats.count("bytes_written", written)
    return written


def _fill_temp(fd: int, chunks: Chunks, real_path: str, durable: bool) -> int:
    written = write_all(fd, chunks)
    _copy_permissions(fd, real_path)  # before fsync, so the mode is durable too
    if durable:
        os.fsync(fd)
    return written


def _fill_temp_while(
    confirm: Callable[[], bool], fd: int, chunks: Chunks, real_path: str, durable: bool
) -> int:
    """Fill the temp file in a worker thread while ``confirm`` runs here; raise if it says no.

    The worker writes through its own duplicate of ``fd`` and closes it itself,
    and this thread waits for it even through an interrupt (``KeyboardInterrupt``,
    a ``SystemExit`` from a signal handler) in ``start``, ``confirm`` or the wait,
    then re-raises it: the caller closes ``fd``, removes the temp file and
    releases the lock only once nothing writes to them any more, and a reused
    fd number never receives the worker's bytes or mode.
    """
    outcome: list[int | BaseException] = []
    verdict: list[bool] = []
    # Taken without blocking by the worker as it begins, or by this thread if an
    # interrupt may have come before it began: exactly one of them then owns worker_fd.
    # Reentrant, so this thread's final acquire also succeeds if it took it already
    # (an interrupt may land between its acquire and anything that would record it).
    claim = threading.RLock()
    done = threading.Event()
    worker_fd = -1  # the worker starts only once the duplicate exists

    def fill() -> None:
        if not claim.acquire(blocking=False):
            return  # the caller was interrupted before this thread began, and closed worker_fd
        try:
            try:
                written = write_all(worker_fd, chunks)
                _copy_permissions(worker_fd, real_path)
                if durable and verdict != [False]:  # a rejected temp file needs no fsync
                    os.fsync(worker_fd)
            finally:
                os.close(worker_fd)
            outcome.append(written)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread, re-raised there
            outcome.append(exc)
        finally:
            done.set()

    # Everything that can fail without a file to leak comes before the dup.
    worker = threading.Thread(target=fill, name="stalwart-fallbacks-write", daemon=True)
    worker_fd = os.dup(fd)
    try:
        return _start_and_confirm(worker, claim, done, outcome, verdict, confirm, fd, chunks, real_path, durable)
    finally:
        # The worker never began (and now never will): worker_fd is this thread's to close.
        if claim.acquire(blocking=False):
            os.close(worker_fd)


def _start_and_confirm(
    worker: threading.Thread,
    claim: threading.RLock,
    done: threading.Event,
    outcome: list[int | BaseException],
    verdict: list[bool],
    confirm: Callable[[], bool],
    fd: int,
    chunks: Chunks,
    real_path: str,
    durable: bool,
) -> int:
    """Start ``worker``, run ``confirm`` meanwhile, wait for the worker; return the bytes written.

    An interrupt is re-raised once the worker is done (or right away if it never
    began); one replacing another keeps the first as its ``__context__``.
    """
    pending: BaseException | None = None
    try:
        try:
            worker.start()
        except RuntimeError:
            # No new threads (interpreter shutting down): check first, then write.
            if not confirm():
                raise Unconfirmed from None
            return _fill_temp(fd, chunks, real_path, durable)
        except BaseException as exc:  # noqa: BLE001 - interrupted while start() waited; re-raised below
            pending = exc
        else:
            try:
                verdict.append(confirm())
            except BaseException as exc:  # noqa: BLE001 - re-raised below, once the worker is done
                pending = exc
        if pending is not None:
            verdict[:] = [False]
            if claim.acquire(blocking=False):
                # Interrupted before the worker began: it never will; the caller closes worker_fd.
                raise pending
        pending = _wait_uninterruptibly(done, pending)
    except BaseException as exc:
        # A second interrupt replaces a pending one: keep the first as its context.
        if pending is not None and exc is not pending and exc.__context__ is None:
            exc.__context__ = pending
        raise
    if pending is not None:
        raise pending
    result = outcome[0]
    if isinstance(result, BaseException):
        raise result
    if not verdict[0]:
        raise Unconfirmed
    return result


def _wait_uninterruptibly(done: threading.Event, pending: BaseException | None) -> BaseException | None:
    """Wait until the worker has set ``done``, whatever interrupts the wait; return the last interrupt.

    A wait raises whatever a signal handler raises meanwhile (Ctrl-C, a SIGTERM
    handler's ``SystemExit``). Letting that through would remove the temp file
    and release the lock under a writer still running, so the interrupt is kept,
    the wait resumed, and the caller re-raises it after. An event, not
    ``Thread.join``: on CPython 3.11 an interrupted join marks a running thread
    as ended (it releases the thread's own lock, bpo-45274), so a join could not
    be resumed.
    """
    while not done.is_set():
        try:
            done.wait()
        except BaseException as exc:  # noqa: BLE001 - re-raised by the caller once the worker is done
            if pending is not None and exc is not pending:
                exc.__context__ = pending
            pending = exc
    return pending


def _copy_permissions(fd: int, real_path: str) -> None:
    if os.name == "nt":  # pragma: no cover - only the read-only bit exists there
        return
    try:
        st = os.stat(real_path)
    except FileNotFoundError:
        # mkstemp creates 0600; a new file gets the mode open() would have given it.
        os.fchmod(fd, 0o666 & ~_current_umask())
        return
    os.fchmod(fd, stat.S_IMODE(st.st_mode))
    if st.st_uid != os.geteuid() or st.st_gid != os.getegid():
        try:
            os.fchown(fd, st.st_uid, st.st_gid)
        except PermissionError:
            # Only root may give a file away; the content is still replaced, owned by us.
            _log.debug("cannot keep owner %s:%s of %s", st.st_uid, st.st_gid, real_path)
