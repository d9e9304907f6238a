"""Cross-process and cross-thread locking of one file through ``<path>.lock``.

The OS lock (``fcntl.flock`` on POSIX, ``msvcrt.locking`` on Windows) is taken on a
separate ``<path>.lock`` file, never on the data file itself, because the data file
is replaced by ``os.replace`` on every write and a lock on a replaced inode
protects nothing. The OS releases the lock when its holder dies, so a killed
writer never blocks the others. Threads of one process are serialized first by a
``threading.Lock`` per real path, so they do not spin on the OS lock.

The ``.lock`` file is left in place: deleting it would let two processes lock two
different inodes of the same name.

A ``flock`` belongs to the open file description, which a forked child shares:
a child forked while a lock is held (by any thread) would keep it held after the
holder died. So a forked child closes its copies of every lock fd open at fork
time, without ``LOCK_UN`` (that would release the parent's lock too), and a
``with file_lock`` block the child inherits mid-way exits without touching them.
Opening a lock fd and registering it (and unregistering and closing it) happen
under a guard that ``fork`` takes first, so no fork lands in between and leaks
an unregistered fd into the child.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from stalwart.fallbacks import _stats
from stalwart.fallbacks._cancel import check_cancelled
from stalwart.fallbacks._errors import LockTimeoutError, WriteError

__all__ = ["DEFAULT_LOCK_TIMEOUT", "file_lock", "lock_count", "prune_idle_locks"]

#: Seconds a writer waits for another holder before raising LockTimeoutError.
DEFAULT_LOCK_TIMEOUT = 60.0

_registry_guard = threading.Lock()
_thread_locks: dict[str, threading.Lock] = {}
_fork_hook_registered = [False]
#: The ``.lock`` fds this process has open (locked, or waiting for the lock).
_open_lock_fds: set[int] = set()
#: Held from ``os.open`` to registration (and from unregistration to ``os.close``) and
#: by ``fork``. Reentrant: a signal handler that forks inside that window must not deadlock.
_fd_guard = threading.RLock()


def _before_fork() -> None:
    _fd_guard.acquire()


def _after_fork_in_parent() -> None:
    _fd_guard.release()


def _reset_after_fork() -> None:
    global _registry_guard, _fd_guard
    _registry_guard = threading.Lock()
    _fd_guard = threading.RLock()  # the parent's, copied held by the forking thread
    _thread_locks.clear()
    for fd in list(_open_lock_fds):
        # EBADF: its owner closed it just before the fork; nothing is held then.
        with contextlib.suppress(OSError):
            os.close(fd)
    _open_lock_fds.clear()
    _stats.reset_after_fork()


def _thread_lock(real_path: str) -> threading.Lock:
    with _registry_guard:
        if not _fork_hook_registered[0]:
            # Registered on first use rather than at import: importing does no work.
            if hasattr(os, "register_at_fork"):
                os.register_at_fork(
                    before=_before_fork,
                    after_in_parent=_after_fork_in_parent,
                    after_in_child=_reset_after_fork,
                )
            _fork_hook_registered[0] = True
        lock = _thread_locks.get(real_path)
        if lock is None:
            lock = _thread_locks[real_path] = threading.Lock()
        return lock


def lock_count() -> int:
    """Return how many per-path thread locks this process holds in its registry."""
    with _registry_guard:
        return len(_thread_locks)


def prune_idle_locks() -> int:
    """Drop registry entries whose lock nobody holds; return how many were dropped."""
    dropped = 0
    with _registry_guard:
        for path, lock in list(_thread_locks.items()):
            if lock.acquire(blocking=False):
                del _thread_locks[path]
                lock.release()
                dropped += 1
    return dropped


if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _try_os_lock(fd: int) -> bool:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _os_unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_os_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _os_unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


#: Seconds between two looks at the cancel token while another thread holds the lock.
_CANCEL_POLL = 0.05


def _acquire_thread_lock(lock: threading.Lock, deadline: float | None, real_path: str) -> bool:
    """Wait for ``lock`` until ``deadline`` (None: forever); return False on timeout.

    Waits in slices, so a cancelled ``async_*`` write stops waiting (raises
    :class:`WriteCancelled`); a release wakes the waiter at once, not at the
    end of its slice.
    """
    while True:
        check_cancelled(real_path)
        remaining = _CANCEL_POLL if deadline is None else min(_CANCEL_POLL, deadline - time.monotonic())
        if remaining <= 0:
            return False
        if lock.acquire(timeout=remaining):
            return True


def lock_path_of(real_path: str) -> str:
    """Return the path of ``real_path``'s lock file (``<path>.lock``, never the data file itself)."""
    return real_path + ".lock"


@contextmanager
def file_lock(real_path: str, timeout: float | None = DEFAULT_LOCK_TIMEOUT) -> Iterator[None]:
    """Hold the exclusive lock of ``real_path`` (thread lock, then ``<real_path>.lock``).

    Args:
        real_path: The data file's resolved path (see :func:`os.path.realpath`).
        timeout: Seconds to wait in total; ``None`` waits forever.

    Yields:
        Nothing; the lock is held inside the ``with`` block.

    Raises:
        LockTimeoutError: The lock was not acquired in time.
        WriteError: The lock file cannot be created or opened.
        WriteCancelled: The ``async_*`` call waiting for the lock was cancelled.

    """
    started = time.monotonic()
    deadline = None if timeout is None else started + timeout
    thread_lock = _thread_lock(real_path)
    waited = False
    if not thread_lock.acquire(blocking=False):
        waited = True
        if not _acquire_thread_lock(thread_lock, deadline, real_path):
            raise LockTimeoutError(real_path, f"lock not acquired within {timeout} s (thread)")
    try:
        lock_path = lock_path_of(real_path)
        owner = os.getpid()
        with _fd_guard:
            try:
                fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o666)
            except OSError as exc:
                raise WriteError(real_path, f"cannot open lock file {lock_path}: {exc}") from exc
            _open_lock_fds.add(fd)
        try:
            delay = 0.0005
            while not _try_os_lock(fd):
                waited = True
                check_cancelled(real_path)
                if deadline is not None and time.monotonic() >= deadline:
                    raise LockTimeoutError(
                        real_path, f"{lock_path} not acquired within {timeout} s (another process)"
                    )
                time.sleep(delay)
                delay = min(delay * 2, 0.02)
            if waited:
                _stats.add_lock_wait(time.monotonic() - started)
            try:
                yield
            finally:
                if os.getpid() == owner:
                    _os_unlock(fd)
        finally:
            # In a forked child the fork hook closed fd already (its number may be reused).
            if os.getpid() == owner:
                with _fd_guard:
                    _open_lock_fds.discard(fd)
                    os.close(fd)
    finally:
        thread_lock.release()
