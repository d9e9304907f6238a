"""Giving forked children fresh per-process state (sockets, threads, locks, connections)."""

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
_registry_lock = threading.Lock()
_hook_installed = False


def reset_after_fork(obj: ForkAware) -> None:
    """Call ``obj._after_fork_in_child()`` in every child forked while ``obj`` is alive.

    The object is held weakly, so registering never keeps it alive. One
    ``os.register_at_fork`` hook serves every object; it is installed on first
    use (importing does no work) and is a no-op where fork does not exist.

    Args:
        obj: The object whose locks, sockets, threads or connections must be
            re-created in the child. Its hook runs in the child only, before
            ``fork()`` returns there, while the child has a single thread.
    """
    global _hook_installed
    with _registry_lock:
        _objects.add(obj)
        if not _hook_installed and hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=_run_in_child)
            _hook_installed = True


def _run_in_child() -> None:
    global _registry_lock
    # The parent may have forked while another thread held the registry lock.
    _registry_lock = threading.Lock()
    failures: list[BaseException] = []
    for obj in list(_objects):
        try:
            obj._after_fork_in_child()
        except Exception as exc:  # noqa: BLE001 - one object's failure must not skip the others' resets
            failures.append(exc)
    if failures:
        # Python reports an exception raised by an at-fork hook as "ignored"; report the first.
        raise failures[0]
