"""Filters that stamp records with the current correlation id, bound context and process facts."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from stalwart.core import current_host
from stalwart.monitoring._context import correlation_started, current_context, get_correlation_id

__all__ = ["ContextFilter", "CorrelationFilter"]


class CorrelationFilter(logging.Filter):
    """Copy the current correlation id and bound context onto each record.

    Sets ``record.correlation_id`` (``None`` outside :func:`with_correlation`)
    and one attribute per :func:`bind_context` field. Values the caller passed
    with ``extra=`` win. Attach it to handlers (a logger's own filters do not
    see records propagated from child loggers). It never drops a record.

    Args:
        name: As :class:`logging.Filter`; only records of this logger subtree are stamped.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Stamp ``record``; always returns ``True``."""
        if self.name and not super().filter(record):
            return True
        attrs = record.__dict__
        if "correlation_id" not in attrs:
            attrs["correlation_id"] = get_correlation_id()
        for key, value in current_context().items():
            attrs.setdefault(key, value)
        return True


class ContextFilter(logging.Filter):
    """Add who/where/how-long fields to each record: ``user``, ``session``, ``host``, ``elapsed_ms``.

    ``user`` and ``session`` come from :func:`bind_context` (``user=...``,
    ``session=...``) or else from the values given here; ``elapsed_ms`` is
    the time since the enclosing :func:`with_correlation` block began, or
    since this filter was created outside one. Fields the caller passed with
    ``extra=`` win. It never drops a record.

    Args:
        user: Default user when none is bound.
        session: Default session when none is bound.
        fields: Further static fields to add to every record.
        clock: Monotonic clock in seconds for the time since this filter was
            created (injectable for tests); time inside a ``with_correlation``
            block is measured with ``time.monotonic``, the clock its start is
            stamped with.
    """

    def __init__(
        self,
        user: str | None = None,
        session: str | None = None,
        fields: dict[str, Any] | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self._defaults: dict[str, Any] = {"user": user, "session": session, **(fields or {})}
        self._clock = clock
        self._created = clock()
        self._host = current_host()

    def filter(self, record: logging.LogRecord) -> bool:
        """Add the fields to ``record``; always returns ``True``."""
        attrs = record.__dict__
        bound = current_context()
        for key, default in self._defaults.items():
            if key not in attrs:
                attrs[key] = bound.get(key, default)
        attrs.setdefault("host", self._host)
        if "elapsed_ms" not in attrs:
            started = correlation_started()
            # with_correlation stamps its start with time.monotonic: measure against the same clock.
            elapsed = self._clock() - self._created if started is None else time.monotonic() - started
            attrs["elapsed_ms"] = round(elapsed * 1000.0, 3)
        return True
