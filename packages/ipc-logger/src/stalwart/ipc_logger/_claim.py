"""Claiming an ``ipc://`` socket file for one master.

ZeroMQ's ``bind`` on an ``ipc://`` path silently unlinks a socket file that
another process is serving and takes the name over, orphaning that master's
workers. A master therefore first takes an exclusive ``flock`` on
``<file>.lock``; the kernel releases it when the master dies.

Forked children must not keep the claim alive: a ``flock`` belongs to the open
file, which a fork shares, so a worker forked from the master's process would
otherwise hold the path after the master died. Each child closes its
inherited copy right after the fork. (For the same reason there is no "is
someone listening on the socket file?" probe: such children also inherit
ZeroMQ's listening socket, so a dead master's path would look busy.)
"""

from __future__ import annotations

import contextlib
import os

from stalwart.core import reset_after_fork
from stalwart.ipc_logger._errors import AddressInUseError, IPCLoggerError

__all__ = ["PathClaim"]


class PathClaim:
    """An exclusive claim on an ``ipc://`` socket file, held until :meth:`release`.

    Args:
        path: The endpoint text, for error messages.
        file: The socket file.

    Raises:
        AddressInUseError: If another live master holds the claim.
        IPCLoggerError: If the socket's directory cannot be created.
    """

    def __init__(self, path: str, file: str) -> None:
        import fcntl

        self._lock_path = f"{file}.lock"
        directory = os.path.dirname(os.path.abspath(file))
        try:
            os.makedirs(directory, mode=0o700, exist_ok=True)
        except OSError as exc:
            raise IPCLoggerError(
                f"cannot bind master to {path}: cannot create directory {directory}: {exc}"
            ) from exc
        while True:
            fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise AddressInUseError(path, f"another master holds {self._lock_path}") from None
            # The previous holder may have unlinked the lock file between our open and flock.
            try:
                same = os.stat(self._lock_path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        self._fd: int | None = fd
        reset_after_fork(self)

    def release(self) -> None:
        """Give the claim up (unlinking the lock file first, so no one locks a dead inode)."""
        if self._fd is None:
            return
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._lock_path)
        os.close(self._fd)
        self._fd = None

    def _after_fork_in_child(self) -> None:
        """In a forked child: close our copy without unlinking (the parent still holds the claim)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
