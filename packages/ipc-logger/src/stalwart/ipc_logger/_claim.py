"""Claiming an ``ipc://`` socket file for one master.

ZeroMQ's ``bind`` on an ``ipc://`` path silently unlinks a socket file that
another process is serving and takes the name over, orphaning that master's
workers. A master therefore first takes an exclusive ``flock`` on
``<file>.lock`` (released by the kernel if the master dies) and also probes
the socket file: a live listener there (even one that is not ours) means the
path is taken.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket

from stalwart.ipc_logger._errors import AddressInUseError, IPCLoggerError

__all__ = ["PathClaim"]


class PathClaim:
    """An exclusive claim on an ``ipc://`` socket file, held until :meth:`release`.

    Args:
        path: The endpoint text, for error messages.
        file: The socket file.

    Raises:
        AddressInUseError: If another master holds the claim or a live
            process listens on ``file``.
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
            fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
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
        if _has_listener(file):
            self.release()
            raise AddressInUseError(path, f"a process is already listening on {file}")

    def release(self) -> None:
        """Give the claim up (unlinking the lock file first, so no one locks a dead inode)."""
        if self._fd is None:
            return
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._lock_path)
        os.close(self._fd)
        self._fd = None


def _has_listener(file: str) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1.0)
    try:
        probe.connect(file)
    except (FileNotFoundError, ConnectionRefusedError):
        return False  # nothing there, or a stale file a dead master left
    except OSError as exc:
        if exc.errno in (errno.ENOTSOCK, errno.ECONNREFUSED, errno.ENOENT):
            return False
        raise
    finally:
        probe.close()
    return True
