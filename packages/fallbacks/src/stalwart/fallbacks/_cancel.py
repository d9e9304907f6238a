"""Cancelling a write that an ``async_*`` function runs in a worker thread.

A thread cannot be interrupted, so :func:`run_cancellable` hands the worker a
token through a context variable (the worker runs in a copy of the caller's
context, as with :func:`asyncio.to_thread`) and the writers check it at their
check points (:func:`check_cancelled`): while waiting for the file's lock, once
it is held, and after the temp file is written and synced, right before backups
rotate and ``os.replace`` commits. Past that last point the write completes.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import os
import threading
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["WriteCancelled", "check_cancelled", "run_cancellable"]

_log = logging.getLogger("stalwart.fallbacks")
_T = TypeVar("_T")
#: Set by :func:`run_cancellable` in the worker's context; None outside it.
_TOKEN: contextvars.ContextVar[threading.Event | None] = contextvars.ContextVar(
    "stalwart_fallbacks_cancel", default=None
)


class WriteCancelled(Exception):
    """The write was cancelled before its commit point: the old file is intact, no temp file is left.

    Deliberately no ``OSError`` / ``FallbacksError``: the ``safe_*`` functions must
    not take it for a failed write (and salvage the records to ``<path>.jsonl``).
    Only raised in a worker of :func:`run_cancellable`, which turns it back into
    the ``CancelledError`` the caller is getting anyway.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        super().__init__(f"write of {self.path} cancelled before it was committed")


def check_cancelled(path: str | os.PathLike[str]) -> None:
    """Raise :class:`WriteCancelled` if the ``async_*`` call running this write was cancelled."""
    token = _TOKEN.get()
    if token is not None and token.is_set():
        raise WriteCancelled(path)


async def run_cancellable(
    write: Callable[..., _T], data: Any, path: str | os.PathLike[str], **options: Any
) -> _T:
    """Run ``write(data, path, **options)`` in a worker thread; a cancellation stops it at its next check point.

    On cancellation (``task.cancel()``, ``asyncio.timeout``, ``wait_for``) the
    token is set and the worker waited for, whatever cancels the wait, before
    ``CancelledError`` propagates: when the caller sees it, the write has either
    stopped (the old file intact, no temp file left) or, if the cancellation came
    after its commit point, completed (logged as a warning). Nothing runs on after.

    Returns:
        What ``write`` returns.

    Raises:
        asyncio.CancelledError: The call was cancelled.

    """
    token = threading.Event()
    context = contextvars.copy_context()
    context.run(_TOKEN.set, token)
    call = functools.partial(context.run, write, data, path, **options)
    future = asyncio.get_running_loop().run_in_executor(None, call)
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        token.set()
        while not future.done():
            try:
                await asyncio.wait([future])
            except asyncio.CancelledError:
                continue  # cancelled again: the worker must still stop before the caller goes on
        error = future.exception()  # also marks it retrieved
        if error is None and future.result() is not False:  # a safe_* write's False was logged already
            _log.warning("%s of %s cancelled after its commit point: the write completed", write.__name__, path)
        elif error is not None and not isinstance(error, WriteCancelled):
            _log.warning("%s of %s cancelled, and failed meanwhile: %s", write.__name__, path, error)
        raise
