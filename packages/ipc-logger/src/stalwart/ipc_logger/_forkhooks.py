"""Give forked children fresh per-process state (sockets, threads, locks, file claims)."""

from __future__ import annotations

import os
import threading
import weakref
from typing import Protocol

__all__ = ["ForkAware", "reset_after_fork"]


class ForkAware(Protocol):
    """An object that knows how to rebuild its per-process state in a forked child."""

    def _after_fork_in_child(self) -> None: ...


_objects: weakref.WeakSet[ForkAware] = weakref.WeakSet()
_lock = threading.Lock()
_installed = False


def reset_after_fork(obj: ForkAware) -> None:
    """Call ``obj._after_fork_in_child()`` in every child forked while ``obj`` is alive.

    The ``os.register_at_fork`` hook is installed once, on first use.
    """
    global _installed
    with _lock:
        _objects.add(obj)
        if not _installed:
            os.register_at_fork(after_in_child=_run_in_child)
            _installed = True


def _run_in_child() -> None:
    global _lock
    _lock = threading.Lock()
    for obj in list(_objects):
        obj._after_fork_in_child()
