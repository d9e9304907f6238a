"""What every stalwart handler shares: a re-entry guard and once-per-cause error reporting."""

from __future__ import annotations

import contextlib
import logging
import sys
import threading

__all__ = ["GuardedHandler"]

_local = threading.local()
# Distinct error causes a handler reports (prints) at most; later failures are only counted.
_MAX_CAUSES = 100


class GuardedHandler(logging.Handler):
    """Base of stalwart handlers: never re-enters itself, reports each error cause once.

    If emitting a record logs again on the same thread (an argument whose
    ``__str__`` logs, a library the handler calls that logs), that nested
    record is not handed to this handler again: it is counted in
    :attr:`reentrant_dropped` instead of recursing or deadlocking. Filters may
    return a replacement ``LogRecord`` (as Python 3.12+ allows) on every
    Python version. Write failures go to :meth:`handleError`
    (stderr, never the logging system) once per distinct cause and are
    counted in :attr:`error_count`.
    """

    #: Records dropped because they were logged while this handler was emitting.
    reentrant_dropped: int = 0
    #: Write failures seen (each distinct cause is reported once).
    error_count: int = 0
    # Handlers whose emit is thread-safe on its own skip the handler lock.
    _emit_needs_lock = True

    def filter(self, record: logging.LogRecord) -> bool | logging.LogRecord:  # type: ignore[override]  # 3.12 contract
        """Run the filters; a filter may return a replacement record (as on Python 3.12+).

        Returns:
            ``False`` if a filter dropped the record, the replacement if one was
            made, ``True`` otherwise.
        """
        current = record
        for item in self.filters:
            # As stdlib: an object with a .filter method, or a plain callable.
            method = getattr(item, "filter", None)
            result: object = method(current) if method is not None else item(current)  # type: ignore[operator]
            if not result:
                return False
            if isinstance(result, logging.LogRecord):
                current = result
        return current if current is not record else True

    def handle(self, record: logging.LogRecord) -> bool:
        """Filter ``record`` and emit it unless this thread is already inside this handler.

        Returns:
            Whether the record passed the filters and was handed to :meth:`emit`.
        """
        if self.filters or type(self).filter is not GuardedHandler.filter:
            result = self.filter(record)
            if not result:
                return False
            if isinstance(result, logging.LogRecord):
                record = result
        if not self._enter():
            self.reentrant_dropped += 1
            return False
        try:
            if self._emit_needs_lock:
                with self.lock:  # type: ignore[union-attr]  # createLock always sets it
                    self.emit(record)
            else:
                self.emit(record)
        finally:
            self._leave()
        return True

    def _enter(self) -> bool:
        """Mark this thread as inside this handler; return ``False`` if it already was.

        Work a handler does outside :meth:`handle` that can make code log (a
        buffer forwarding to its target on a timer thread) is wrapped in this
        too, so what that code logs is dropped and counted, not taken in.
        """
        try:
            active: set[int] = _local.active
        except AttributeError:
            active = _local.active = set()
        me = id(self)
        if me in active:
            return False
        active.add(me)
        return True

    def _leave(self) -> None:
        """Undo a successful :meth:`_enter` on this thread."""
        _local.active.discard(id(self))

    def handleError(self, record: logging.LogRecord) -> None:
        """Count a failure; print it (stdlib ``handleError``) only if its cause is new.

        Call from the ``except`` block handling the failure, as stdlib does.

        Args:
            record: The record (or a stand-in describing a batch) that failed.
        """
        self.error_count += 1
        exc = sys.exc_info()[1]
        causes: set[tuple[str, object]] = self.__dict__.setdefault("_reported_causes", set())
        kinds: set[str] = self.__dict__.setdefault("_reported_kinds", set())
        # An OSError's text names the files involved (a rotation's temp name is unique each time): its
        # errno is the cause. The first failure of each exception type is always printed; variants of
        # a type already seen only up to _MAX_CAUSES causes (texts that vary per record must not flood).
        detail: object = exc.errno if isinstance(exc, OSError) and exc.errno is not None else str(exc)
        errno = exc.errno if isinstance(exc, OSError) else None
        kind = type(exc).__qualname__ if errno is None else f"{type(exc).__qualname__}:{errno}"
        cause = (type(exc).__qualname__, detail)
        if cause in causes or (kind in kinds and len(causes) >= _MAX_CAUSES) or len(kinds) >= _MAX_CAUSES:
            return
        causes.add(cause)
        kinds.add(kind)
        # A closed stderr (a daemon) leaves nowhere to print: the failure is counted in error_count. (stdlib
        # passes only on OSError, and a writer thread reporting a batch must not die of a ValueError.)
        with contextlib.suppress(ValueError):
            super().handleError(record)
