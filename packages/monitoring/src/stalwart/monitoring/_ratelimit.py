"""A token-bucket rate limiter for log records that says what it suppressed."""

from __future__ import annotations

import atexit
import logging
import threading
import time
import weakref
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from stalwart.core import reset_after_fork
from stalwart.monitoring._errors import MonitoringConfigError
from stalwart.monitoring._fields import record_template

__all__ = ["SUMMARY_ATTRIBUTE", "RateLimitFilter", "flush_all_summaries"]

#: Attribute set on summary records; every :class:`RateLimitFilter` lets such records through.
SUMMARY_ATTRIBUTE = "_stalwart_rate_summary"

_KEYS: dict[str, Callable[[logging.LogRecord], Hashable]] = {
    "logger+template": lambda record: (record.name, record_template(record)),
    "logger": lambda record: record.name,
    "template": record_template,
    "logger+level": lambda record: (record.name, record.levelno),
}

# Idle, full buckets are forgotten once this many keys exist (unique messages must not leak memory).
_MAX_KEYS = 10_000

# Filters whose pending summaries are emitted at interpreter exit; held weakly, hook installed on first use.
_live: weakref.WeakSet[RateLimitFilter] = weakref.WeakSet()
_exit_hook_lock = threading.Lock()
_exit_hook_installed = False


def flush_all_summaries() -> None:
    """Emit the pending summaries of every live :class:`RateLimitFilter` (before its handlers close)."""
    for live in list(_live):
        live.flush_summaries()


def _watch_at_exit(rate_filter: RateLimitFilter) -> None:
    global _exit_hook_installed
    with _exit_hook_lock:
        _live.add(rate_filter)
        if not _exit_hook_installed:
            # atexit runs hooks last-registered first: this one runs before logging.shutdown closes the handlers.
            atexit.register(flush_all_summaries)
            _exit_hook_installed = True


@dataclass
class _Bucket:
    tokens: float
    stamp: float
    suppressed: int = 0
    name: str = ""
    level: int = logging.NOTSET
    template: str = ""


class RateLimitFilter(logging.Filter):
    """Let at most ``burst`` similar records through at once, refilled at ``rate`` per second.

    Each key (by default the logger name plus the message template, so
    ``log.info("user %s", name)`` counts as one kind of record whatever the
    name) has a token bucket holding up to ``burst`` tokens, refilled
    continuously at ``rate`` tokens per second on a monotonic clock. A record
    passes if it can take a token. When a key that suppressed records lets
    one through again, a separate summary record ``"suppressed N similar
    records: <template>"`` (level = the highest suppressed level, extras
    ``suppressed`` and ``rate_limit_key``) is emitted first, to the handlers
    on the record's path that carry this filter (a filter on a logger: through
    that logger, to every handler on its path; or to ``sink``); the user's
    records are never rewritten.
    A flood that just stops is summarised too: any later record (of any
    key) first emits the summary of every key whose bucket has a token
    again, and pending summaries are emitted at interpreter exit (before
    ``logging.shutdown`` closes the handlers) or by :meth:`flush_summaries`.
    A forked child starts with no pending summaries (they are the parent's
    to report). Thread-safe.

    Args:
        rate: Tokens added per second (> 0).
        burst: Bucket size: how many records pass back to back (>= 1).
        key: ``"logger+template"`` (default), ``"logger"``, ``"template"``,
            ``"logger+level"``, or a function of the record returning a hashable key.
        clock: Monotonic clock in seconds (injectable for tests).
        sink: Where summary records go; default: the handlers this filter sits
            on (or, for a filter on a logger, that logger).

    Raises:
        MonitoringConfigError: On a non-positive rate or burst or an unknown key name.
    """

    def __init__(
        self,
        rate: float = 10.0,
        burst: int = 20,
        key: str | Callable[[logging.LogRecord], Hashable] = "logger+template",
        *,
        clock: Callable[[], float] = time.monotonic,
        sink: Callable[[logging.LogRecord], object] | None = None,
    ) -> None:
        super().__init__()
        if not rate > 0:
            raise MonitoringConfigError("rate", rate, ["a number > 0"])
        if int(burst) < 1:
            raise MonitoringConfigError("burst", burst, ["an integer >= 1"])
        if isinstance(key, str):
            if key not in _KEYS:
                raise MonitoringConfigError("rate limit key", key, _KEYS)
            self._key = _KEYS[key]
        else:
            self._key = key
        self.rate = float(rate)
        self.burst = int(burst)
        self._clock = clock
        self._sink = sink
        self._lock = threading.Lock()
        # A fork while another thread holds the lock must not leave the child stuck.
        reset_after_fork(self)
        self._buckets: dict[Hashable, _Bucket] = {}
        # Keys that suppressed records since their last summary: checked on every record, usually few.
        self._pending: dict[Hashable, _Bucket] = {}
        self.passed = 0
        self.suppressed = 0
        # One decision per record even when the filter is shared by several handlers (dictConfig does that).
        self._memo = f"_stalwart_rate_{id(self):x}"
        _watch_at_exit(self)

    def _after_fork_in_child(self) -> None:
        self._lock = threading.Lock()
        for bucket in self._pending.values():
            bucket.suppressed = 0
            bucket.level = logging.NOTSET
        self._pending = {}

    def filter(self, record: logging.LogRecord) -> bool:
        """Return whether ``record`` passes; emit a pending summary first when it does."""
        attrs = record.__dict__
        if attrs.get(SUMMARY_ATTRIBUTE):
            return True
        decided: bool | None = attrs.get(self._memo)
        if decided is not None:
            return decided
        decision = self._decide(record)
        attrs[self._memo] = decision
        return decision

    def _decide(self, record: logging.LogRecord) -> bool:
        key = self._key(record)
        due: list[tuple[Hashable, _Bucket]] = []
        with self._lock:
            now = self._clock()
            bucket = self._buckets.get(key)
            if bucket is None:
                if len(self._buckets) >= _MAX_KEYS:
                    self._forget_idle(now)
                bucket = self._buckets[key] = _Bucket(tokens=float(self.burst), stamp=now)
            else:
                bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.stamp) * self.rate)
                bucket.stamp = now
            if self._pending:
                due = self._take_due(key, now)
            if bucket.tokens < 1.0:
                bucket.suppressed += 1
                bucket.name = record.name
                bucket.level = max(bucket.level, record.levelno)
                bucket.template = record_template(record)
                self._pending[key] = bucket
                self.suppressed += 1
                decision = False
            else:
                bucket.tokens -= 1.0
                self.passed += 1
                if bucket.suppressed:
                    due.append((key, self._take_summary(key, bucket)))
                decision = True
        for due_key, snapshot in due:
            self._emit_summary(due_key, snapshot)
        return decision

    def _take_due(self, current: Hashable, now: float) -> list[tuple[Hashable, _Bucket]]:
        """Take the summaries of other keys whose flood stopped (their bucket has a token again).

        Called with the lock held.
        """
        return [
            (key, self._take_summary(key, bucket))
            for key, bucket in list(self._pending.items())
            if key != current and bucket.tokens + (now - bucket.stamp) * self.rate >= 1.0
        ]

    def _take_summary(self, key: Hashable, bucket: _Bucket) -> _Bucket:
        """Return a snapshot of ``bucket``'s suppression and reset it (called with the lock held)."""
        snapshot = _Bucket(0.0, bucket.stamp, bucket.suppressed, bucket.name, bucket.level, bucket.template)
        bucket.suppressed = 0
        bucket.level = logging.NOTSET
        self._pending.pop(key, None)
        return snapshot

    def flush_summaries(self) -> int:
        """Emit a summary for every key that suppressed records since its last summary.

        Returns:
            How many summary records were emitted.
        """
        with self._lock:
            snapshots = [(key, self._take_summary(key, bucket)) for key, bucket in list(self._pending.items())]
        for key, snapshot in snapshots:
            self._emit_summary(key, snapshot)
        return len(snapshots)

    def _forget_idle(self, now: float) -> None:
        """Drop buckets that are full again and owe no summary (called with the lock held)."""
        idle = [
            key
            for key, b in self._buckets.items()
            if not b.suppressed and b.tokens + (now - b.stamp) * self.rate >= self.burst
        ]
        for key in idle:
            del self._buckets[key]

    def _emit_summary(self, key: Hashable, bucket: _Bucket) -> None:
        summary = logging.LogRecord(
            bucket.name,
            bucket.level,
            __file__,
            0,
            "suppressed %d similar records: %s",
            (bucket.suppressed, bucket.template),
            None,
        )
        summary.suppressed = bucket.suppressed
        summary.rate_limit_key = repr(key)
        summary.__dict__[SUMMARY_ATTRIBUTE] = True
        if self._sink is not None:
            self._sink(summary)
            return
        logger = logging.getLogger(bucket.name)
        handlers = self._handlers_on_path(logger)
        if not handlers:
            logger.handle(summary)  # this filter sits on a logger: the whole path saw the suppression
            return
        for handler in handlers:
            if summary.levelno >= handler.level:
                handler.handle(summary)

    def _handlers_on_path(self, logger: logging.Logger) -> list[logging.Handler]:
        """Return the handlers on ``logger``'s path that carry this filter: only they suppressed records."""
        found: list[logging.Handler] = []
        current: logging.Logger | None = logger
        while current is not None:
            for handler in current.handlers:
                if self in handler.filters:
                    found.append(handler)
                else:
                    # The target of a buffering handler on the path (MemoryHandler, BufferedHandler).
                    target = getattr(handler, "target", None)
                    if isinstance(target, logging.Handler) and self in target.filters:
                        found.append(target)
            current = current.parent if current.propagate else None
        return found
