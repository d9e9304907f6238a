"""Correlation ids and bound context on :mod:`contextvars`.

``contextvars`` (not ``threading.local``) so the values follow asyncio tasks
(each task runs in a copy of its creator's context) and threads started with
``contextvars.copy_context().run``.
"""

from __future__ import annotations

import contextvars
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import MappingProxyType
from typing import Any

__all__ = [
    "bind_context",
    "current_context",
    "get_correlation_id",
    "new_correlation_id",
    "with_correlation",
]

_EMPTY: Mapping[str, Any] = MappingProxyType({})

_correlation_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "stalwart_correlation_id", default=None
)
_correlation_started: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "stalwart_correlation_started", default=None
)
# Immutable mappings only: a copied context must never see a later mutation of its parent's dict.
_bound: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar(
    "stalwart_bound_context", default=_EMPTY
)


def new_correlation_id() -> str:
    """Return a fresh random correlation id (32 hex characters)."""
    return uuid.uuid4().hex


def get_correlation_id() -> str | None:
    """Return the correlation id of the current context, or ``None`` outside one."""
    return _correlation_id.get()


def correlation_started() -> float | None:
    """Return the ``time.monotonic()`` at which the current correlation scope began."""
    return _correlation_started.get()


def current_context() -> Mapping[str, Any]:
    """Return the key/value pairs bound in the current context (read-only)."""
    return _bound.get()


@contextmanager
def with_correlation(correlation_id: str | None = None) -> Iterator[str]:
    """Tag every record logged inside the block with a correlation id.

    Nesting is allowed; the inner id wins until its block ends. The id follows
    asyncio tasks created inside the block.

    Args:
        correlation_id: The id to use; a new random one if ``None``.

    Yields:
        The correlation id in effect.

    Raises:
        TypeError: If ``correlation_id`` is not a string.
    """
    if correlation_id is None:
        correlation_id = new_correlation_id()
    elif not isinstance(correlation_id, str):
        raise TypeError(f"correlation_id must be a str, not {type(correlation_id).__name__}")
    id_token = _correlation_id.set(correlation_id)
    start_token = _correlation_started.set(time.monotonic())
    try:
        yield correlation_id
    finally:
        _correlation_started.reset(start_token)
        _correlation_id.reset(id_token)


@contextmanager
def bind_context(**values: Any) -> Iterator[Mapping[str, Any]]:
    """Add key/value pairs to every record logged inside the block.

    Inner bindings extend (and may override) outer ones and are undone when
    the block ends.

    Args:
        **values: The fields to bind, e.g. ``user="ada", job=7``.

    Yields:
        The full bound context in effect inside the block.
    """
    merged = MappingProxyType({**_bound.get(), **values})
    token = _bound.set(merged)
    try:
        yield merged
    finally:
        _bound.reset(token)
