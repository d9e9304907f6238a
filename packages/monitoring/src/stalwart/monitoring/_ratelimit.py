"""A token-bucket rate limiter for log records that says what it suppressed."""

from __future__ import annotations

import atexit
import contextvars
import logging
import math
import threading
import time
import weakref
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from stalwart.core import reset_after_fork
from stalwart.monitoring._context import current_context, get_correlation_id
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
_NS = 1_000_000_000
# The summary timer never waits less than this: a deadline a fake clock never reaches must not spin.
_MIN_WAIT = 0.001
_TIMER_NAME = "stalwart-ratelimit-summaries"

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


@dataclass(slots=True)
class _Bucket:
    # Integer credit (see RateLimitFilter._unit) and nanosecond stamps: no floating-point drift.
    credit: int
    stamp: int
    suppressed: int = 0
    name: str = ""
    level: int = logging.NOTSET
    template: str = ""
    # When the first record since the last summary was suppressed.
    since: int = 0
    # The context of the suppressed records (None once they came from different requests).
    context: contextvars.Context | None = None
    correlation: str | None = None
    bound: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class _Summary:
    key: Hashable
    suppressed: int
    name: str
    level: int
    template: str
    context: contextvars.Context | None


class RateLimitFilter(logging.Filter):
    """Let at most ``burst`` similar records through at once, refilled at ``rate`` per second.

    Each key (by default the logger name plus the message template, so
    ``log.info("user %s", name)`` counts as one kind of record whatever the
    name) has a token bucket holding up to ``burst`` tokens, refilled
    continuously at ``rate`` tokens per second on a monotonic clock (integer
    nanoseconds; a token due within the last nanosecond counts as there). A
    record passes if it can take a token; the user's records are never
    rewritten.

    Suppressed records are reported by one separate summary record
    ``"suppressed N similar records: <template>"`` (level = the highest
    suppressed level, extras ``suppressed`` and ``rate_limit_key``) when the
    burst ends: once the key's bucket is full again, i.e. the key has been
    quiet for ``burst / rate`` seconds. A flood that never stops is reported
    once every ``summary_interval`` seconds. The summary is emitted by a
    background timer thread (started when a key first suppresses, gone when
    nothing is pending), or by the next record of any key, whichever comes
    first; pending summaries are also emitted at interpreter exit (before
    ``logging.shutdown`` closes the handlers) and by :meth:`flush_summaries`.

    The summary is emitted in the context of the suppressed records when they
    all shared one correlation id and bound context (so a
    :class:`CorrelationFilter` stamps the request that flooded, not the one
    that happened to trigger the summary); when they came from different
    requests it carries none (``correlation_id`` is ``None``). It goes to the
    handlers on the record's path that carry this filter (a filter on a
    logger: through that logger, to every handler on its path; or to
    ``sink``). A forked child starts with no pending summaries (they are the
    parent's to report) and no timer. Thread-safe.

    Args:
        rate: Tokens added per second (> 0).
        burst: Bucket size: how many records pass back to back (>= 1).
        key: ``"logger+template"`` (default), ``"logger"``, ``"template"``,
            ``"logger+level"``, or a function of the record returning a hashable key.
        clock: Monotonic clock in seconds (injectable for tests).
        sink: Where summary records go; default: the handlers this filter sits
            on (or, for a filter on a logger, that logger).
        summary_interval: Seconds (> 0) after which a key that keeps
            suppressing is summarised even though its flood goes on.
        timer: Whether a background thread emits the summary of a flood that
            stopped; if ``False`` it waits for a later record, exit or
            :meth:`flush_summaries`.

    Raises:
        MonitoringConfigError: On a non-positive or non-finite rate or
            summary interval, a burst below 1 or an unknown key name.
    """

    def __init__(
        self,
        rate: float = 10.0,
        burst: int = 20,
        key: str | Callable[[logging.LogRecord], Hashable] = "logger+template",
        *,
        clock: Callable[[], float] = time.monotonic,
        sink: Callable[[logging.LogRecord], object] | None = None,
        summary_interval: float = 60.0,
        timer: bool = True,
    ) -> None:
        super().__init__()
        if not (rate > 0 and math.isfinite(rate)):
            raise MonitoringConfigError("rate", rate, ["a finite number > 0"])
        if int(burst) < 1:
            raise MonitoringConfigError("burst", burst, ["an integer >= 1"])
        if not (summary_interval > 0 and math.isfinite(summary_interval)):
            raise MonitoringConfigError("summary_interval", summary_interval, ["a finite number of seconds > 0"])
        if isinstance(key, str):
            if key not in _KEYS:
                raise MonitoringConfigError("rate limit key", key, _KEYS)
            self._key = _KEYS[key]
        else:
            self._key = key
        self.rate = float(rate)
        self.burst = int(burst)
        # The rate as the fraction its decimal spelling means (0.1 is 1/10): a token is _unit credit
        # and each nanosecond adds _per_ns, both integers.
        fraction = Fraction(repr(self.rate))
        self._per_ns = fraction.numerator
        self._unit = fraction.denominator * _NS
        self._cap = self.burst * self._unit
        self._interval = max(1, round(summary_interval * _NS))
        self._now: Callable[[], int] = (
            time.monotonic_ns if clock is time.monotonic else (lambda: round(clock() * _NS))
        )
        self._sink = sink
        self._use_timer = timer
        self._lock = threading.Lock()
        self._wakeup = threading.Condition(self._lock)
        # A fork while another thread holds the lock must not leave the child stuck.
        reset_after_fork(self)
        self._buckets: dict[Hashable, _Bucket] = {}
        # Keys that suppressed records since their last summary, and the earliest time one can be due.
        self._pending: dict[Hashable, _Bucket] = {}
        self._next_due: float = math.inf
        self._timer: threading.Thread | None = None
        # Whether the timer is emitting (outside the lock, maybe waiting for a handler's lock).
        self._timer_busy = False
        self.passed = 0
        self.suppressed = 0
        # One decision per record even when the filter is shared by several handlers (dictConfig does that).
        self._memo = f"_stalwart_rate_{id(self):x}"
        _watch_at_exit(self)

    def _after_fork_in_child(self) -> None:
        self._lock = threading.Lock()
        self._wakeup = threading.Condition(self._lock)
        for bucket in self._pending.values():
            self._reset(bucket)
        self._pending = {}
        self._next_due = math.inf
        # The parent's timer thread does not exist here.
        self._timer = None
        self._timer_busy = False

    def filter(self, record: logging.LogRecord) -> bool:
        """Return whether ``record`` passes; emit the summaries that are due first."""
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
        due: list[_Summary] = []
        with self._lock:
            now = self._now()
            bucket = self._buckets.get(key)
            if bucket is None:
                if len(self._buckets) >= _MAX_KEYS:
                    self._forget_idle(now)
                bucket = self._buckets[key] = _Bucket(self._cap, now)
            else:
                self._refill(bucket, now)
            if self._pending and now >= self._next_due:
                due = self._take_due(now)
            if bucket.credit + self._per_ns >= self._unit:
                bucket.credit -= self._unit
                self.passed += 1
                decision = True
            else:
                self._suppress(key, bucket, record, now)
                decision = False
        for summary in due:
            self._emit(summary)
        return decision

    def _refill(self, bucket: _Bucket, now: int) -> None:
        """Add the credit earned since the bucket's stamp (called with the lock held)."""
        elapsed = now - bucket.stamp
        if elapsed > 0:
            bucket.credit = min(self._cap, bucket.credit + elapsed * self._per_ns)
            bucket.stamp = now

    def _due_at(self, bucket: _Bucket) -> int:
        """Return when ``bucket``'s summary is due: when it is full again or its interval is up.

        Neither moves earlier while the key keeps suppressing, so ``_next_due`` stays a lower bound.
        """
        missing = self._cap - self._per_ns - bucket.credit
        full = bucket.stamp + max(0, -(-missing // self._per_ns))
        return min(full, bucket.since + self._interval)

    def _suppress(self, key: Hashable, bucket: _Bucket, record: logging.LogRecord, now: int) -> None:
        """Count ``record`` as suppressed under ``key`` (called with the lock held)."""
        self.suppressed += 1
        bucket.name = record.name
        bucket.level = max(bucket.level, record.levelno)
        bucket.template = record_template(record)
        correlation = get_correlation_id()
        bound = current_context()
        if bucket.suppressed == 0:
            bucket.since = now
            bucket.context = contextvars.copy_context()
            bucket.correlation = correlation
            bucket.bound = bound
            self._pending[key] = bucket
            due = self._due_at(bucket)
            earlier = due < self._next_due
            self._next_due = min(self._next_due, due)
            if self._use_timer:
                if self._timer is None:
                    self._start_timer()
                elif earlier:
                    self._wakeup.notify()
        elif bucket.context is not None and (correlation != bucket.correlation or bound is not bucket.bound):
            # Records of several requests: the summary must not name any one of them.
            bucket.context = None
        bucket.suppressed += 1

    def _take_due(self, now: int) -> list[_Summary]:
        """Take the summaries whose burst ended or interval is up (called with the lock held)."""
        due: list[_Summary] = []
        next_due: float = math.inf
        for key, bucket in list(self._pending.items()):
            self._refill(bucket, now)
            at = self._due_at(bucket)
            if at <= now:
                due.append(self._take(key, bucket))
            else:
                next_due = min(next_due, at)
        self._next_due = next_due
        return due

    def _take(self, key: Hashable, bucket: _Bucket) -> _Summary:
        """Return ``bucket``'s summary and reset it (called with the lock held)."""
        summary = _Summary(key, bucket.suppressed, bucket.name, bucket.level, bucket.template, bucket.context)
        self._reset(bucket)
        self._pending.pop(key, None)
        return summary

    @staticmethod
    def _reset(bucket: _Bucket) -> None:
        bucket.suppressed = 0
        bucket.level = logging.NOTSET
        bucket.context = None
        bucket.correlation = None
        bucket.bound = None

    def flush_summaries(self) -> int:
        """Emit a summary for every key that suppressed records since its last summary.

        Also stops the summary timer (a later suppression starts a new one).

        Returns:
            How many summary records were emitted.
        """
        with self._lock:
            summaries = [self._take(key, bucket) for key, bucket in list(self._pending.items())]
            self._next_due = math.inf
            timer, busy = self._timer, self._timer_busy
            self._timer = None
            self._wakeup.notify_all()
        for summary in summaries:
            self._emit(summary)
        # A timer that is not emitting only needs our lock to see it is stopped: joining it cannot deadlock.
        # One that is emitting may wait for a handler lock our caller holds: it ends by itself once done.
        if timer is not None and not busy and timer is not threading.current_thread():
            timer.join()
        return len(summaries)

    def _start_timer(self) -> None:
        """Start the summary timer thread (called with the lock held)."""
        timer = threading.Thread(target=self._run_timer, name=_TIMER_NAME, daemon=True)
        self._timer = timer
        self._timer_busy = False
        try:
            timer.start()
        except RuntimeError:
            # At interpreter shutdown no thread can start: the exit hook or a later record reports instead.
            self._timer = None

    def _run_timer(self) -> None:
        me = threading.current_thread()
        try:
            while True:
                with self._lock:
                    if self._timer is me:  # the flag describes the current timer only
                        self._timer_busy = False
                    due = self._wait_for_due(me)
                    if due is None:
                        return
                    self._timer_busy = True
                for summary in due:
                    self._emit(summary)
        finally:
            with self._lock:
                if self._timer is me:
                    self._timer = None
                    self._timer_busy = False

    def _wait_for_due(self, me: threading.Thread) -> list[_Summary] | None:
        """Wait until summaries are due and take them; ``None`` once this timer should end (lock held)."""
        while self._timer is me:
            if not self._pending:
                self._timer = None
                return None
            now = self._now()
            if now >= self._next_due:
                due = self._take_due(now)
                if due:
                    return due
            self._wakeup.wait(min(threading.TIMEOUT_MAX, max(_MIN_WAIT, (self._next_due - now) / _NS)))
        return None

    def _forget_idle(self, now: int) -> None:
        """Drop buckets that are full again and owe no summary (called with the lock held)."""
        idle = [
            key
            for key, b in self._buckets.items()
            if not b.suppressed and b.credit + max(0, now - b.stamp) * self._per_ns >= self._cap
        ]
        for key in idle:
            del self._buckets[key]

    def _emit(self, summary: _Summary) -> None:
        # In the suppressed records' own context (correlation id, bound fields); a fresh one if they were mixed.
        context = summary.context if summary.context is not None else contextvars.Context()
        context.run(self._emit_summary, summary)

    def _emit_summary(self, summary: _Summary) -> None:
        record = logging.LogRecord(
            summary.name,
            summary.level,
            __file__,
            0,
            "suppressed %d similar records: %s",
            (summary.suppressed, summary.template),
            None,
        )
        record.suppressed = summary.suppressed
        record.rate_limit_key = repr(summary.key)
        record.__dict__[SUMMARY_ATTRIBUTE] = True
        if self._sink is not None:
            self._sink(record)
            return
        logger = logging.getLogger(summary.name)
        handlers = self._handlers_on_path(logger)
        if not handlers:
            logger.handle(record)  # this filter sits on a logger: the whole path saw the suppression
            return
        for handler in handlers:
            if record.levelno >= handler.level:
                handler.handle(record)

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
