"""A handler that turns log records into metrics: counts, rate and durations."""

from __future__ import annotations

import bisect
import logging
import math
import re
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from stalwart.core import reset_after_fork, to_utf8_text
from stalwart.monitoring._errors import MonitoringConfigError
from stalwart.monitoring._guard import GuardedHandler

__all__ = ["DurationStats", "MetricsHandler", "MetricsSnapshot"]

DEFAULT_BUCKETS_MS: tuple[float, ...] = (1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)


@dataclass(frozen=True)
class DurationStats:
    """Durations (milliseconds) seen for one logger.

    Attributes:
        count: How many durations.
        total: Their sum.
        minimum: The smallest.
        maximum: The largest.
        buckets: Cumulative counts per upper bound, as a Prometheus histogram (``+Inf`` last).
    """

    count: int
    total: float
    minimum: float
    maximum: float
    buckets: tuple[tuple[float, int], ...]

    @property
    def mean(self) -> float:
        """Return the average duration (0.0 when there is none)."""
        return self.total / self.count if self.count else 0.0


@dataclass(frozen=True)
class MetricsSnapshot:
    """Metrics at one moment.

    Attributes:
        total: Records seen.
        by_level: Records per level name.
        by_logger: Records per logger name.
        by_level_logger: Records per (level name, logger name).
        rate_per_minute: Records per minute over the last window.
        durations: Duration statistics per logger, from records carrying ``duration_ms``.
        invalid_durations: Records whose ``duration_ms`` was not a finite number >= 0.
    """

    total: int
    by_level: dict[str, int]
    by_logger: dict[str, int]
    by_level_logger: dict[tuple[str, str], int]
    rate_per_minute: float
    durations: dict[str, DurationStats]
    invalid_durations: int


class _Durations:
    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.count = 0
        self.total = 0.0
        self.minimum = math.inf
        self.maximum = -math.inf

    def add(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.count += 1
        self.total += value
        self.minimum = min(self.minimum, value)
        self.maximum = max(self.maximum, value)

    def stats(self) -> DurationStats:
        running = 0
        cumulative = []
        for bound, count in zip([*self.bounds, math.inf], self.counts, strict=True):
            running += count
            cumulative.append((bound, running))
        return DurationStats(self.count, self.total, self.minimum, self.maximum, tuple(cumulative))


def _label(value: str) -> str:
    # Lone surrogates (a logger named after an undecodable file) as \udcxx text: the exposition is UTF-8.
    return to_utf8_text(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


def _number(value: float) -> str:
    if value == math.inf:
        return "+Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


class MetricsHandler(GuardedHandler):
    """Count records by level and logger, track the rate and parse ``duration_ms`` into histograms.

    Records carrying a ``duration_ms`` field (``log.info("done", extra={"duration_ms": 12.5})``)
    add to that logger's duration histogram. :meth:`snapshot` returns the
    numbers; :meth:`prometheus_text` renders them in the Prometheus text
    exposition format (version 0.0.4). Nothing is written anywhere.

    Args:
        level: Handler level.
        window_seconds: Span of the rate window.
        buckets_ms: Histogram upper bounds in milliseconds, ascending.
        namespace: Prefix of the metric names (a Prometheus name: ``[a-zA-Z_:][a-zA-Z0-9_:]*``).
        clock: Monotonic clock in seconds (injectable for tests).

    Raises:
        MonitoringConfigError: On a non-positive window, a non-finite bucket
            bound, or a namespace Prometheus would refuse.
    """

    _emit_needs_lock = False

    def __init__(
        self,
        level: int | str = logging.NOTSET,
        *,
        window_seconds: float = 60.0,
        buckets_ms: Sequence[float] = DEFAULT_BUCKETS_MS,
        namespace: str = "stalwart",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(level)
        try:
            window = math.nan if isinstance(window_seconds, (str, bool)) else float(window_seconds)
        except (TypeError, ValueError):
            window = math.nan
        if not 0 < window < math.inf:
            raise MonitoringConfigError("window_seconds", window_seconds, ["a finite number > 0"])
        try:
            given: object = buckets_ms  # callers outside the type checker may pass a str
            if isinstance(given, str) or any(isinstance(b, (str, bool)) for b in buckets_ms):
                raise TypeError(buckets_ms)
            bounds = tuple(sorted({float(b) for b in buckets_ms}))  # a bound given twice would be two series
        except (TypeError, ValueError):
            bounds = (math.nan,)
        if not all(math.isfinite(b) for b in bounds):
            raise MonitoringConfigError("buckets_ms", buckets_ms, ["finite numbers (+Inf is always added)"])
        if not isinstance(namespace, str) or not _METRIC_NAME.fullmatch(namespace):
            raise MonitoringConfigError("namespace", namespace, ["a metric name: [a-zA-Z_:][a-zA-Z0-9_:]*"])
        self.window_seconds = window
        self.buckets_ms = bounds
        self.namespace = namespace
        self._clock = clock
        self._counts: Counter[tuple[str, str]] = Counter()
        self._seconds: deque[list[int]] = deque()  # [whole second, count], oldest first
        self._durations: dict[str, _Durations] = {}
        self._invalid = 0
        reset_after_fork(self)

    def _after_fork_in_child(self) -> None:
        # A forked worker counts its own records: the parent's counts, repeated in every worker of a
        # pre-fork server, would be summed once per process by whoever scrapes them all.
        self._counts = Counter()
        self._seconds = deque()
        self._durations = {}
        self._invalid = 0

    def emit(self, record: logging.LogRecord) -> None:
        """Count ``record``."""
        raw = record.__dict__.get("duration_ms")
        duration: float | None = None
        invalid = False
        if isinstance(raw, bool):  # True is no duration (float(True) would make it 1 ms)
            invalid = True
        elif raw is not None:
            try:
                duration = float(raw)
            except (TypeError, ValueError):
                invalid = True
            else:
                if not math.isfinite(duration) or duration < 0:
                    duration, invalid = None, True
        second = int(self._clock())
        with self.lock:  # type: ignore[union-attr]  # the handler lock: logging re-creates it in a forked child
            # str(): a bare makeLogRecord has name None (and levelname "Level None").
            self._counts[(str(record.levelname), "" if record.name is None else str(record.name))] += 1
            seconds = self._seconds
            if seconds and seconds[-1][0] == second:
                seconds[-1][1] += 1
            else:
                seconds.append([second, 1])
                while seconds and seconds[0][0] <= second - self.window_seconds:
                    seconds.popleft()
            if duration is not None:
                name = "" if record.name is None else str(record.name)
                series = self._durations.get(name)
                if series is None:
                    series = self._durations[name] = _Durations(self.buckets_ms)
                series.add(duration)
            if invalid:
                self._invalid += 1

    def snapshot(self) -> MetricsSnapshot:
        """Return the current metrics."""
        now = int(self._clock())
        with self.lock:  # type: ignore[union-attr]  # the handler lock: logging re-creates it in a forked child
            by_pair = dict(self._counts)
            recent = sum(count for second, count in self._seconds if second > now - self.window_seconds)
            durations = {name: series.stats() for name, series in self._durations.items()}
            invalid = self._invalid
        by_level: Counter[str] = Counter()
        by_logger: Counter[str] = Counter()
        for (level, logger), count in by_pair.items():
            by_level[level] += count
            by_logger[logger] += count
        return MetricsSnapshot(
            total=sum(by_pair.values()),
            by_level=dict(by_level),
            by_logger=dict(by_logger),
            by_level_logger=by_pair,
            rate_per_minute=recent * 60.0 / self.window_seconds,
            durations=durations,
            invalid_durations=invalid,
        )

    def prometheus_text(self) -> str:
        """Return the metrics in the Prometheus text exposition format (ends with a newline)."""
        snap = self.snapshot()
        ns = self.namespace
        lines = [
            f"# HELP {ns}_log_records_total Log records handled, by level and logger.",
            f"# TYPE {ns}_log_records_total counter",
        ]
        for (level, logger), count in sorted(snap.by_level_logger.items()):
            lines.append(
                f'{ns}_log_records_total{{level="{_label(level)}",logger="{_label(logger)}"}} {count}'
            )
        lines += [
            f"# HELP {ns}_log_records_per_minute Log records per minute over the last window.",
            f"# TYPE {ns}_log_records_per_minute gauge",
            f"{ns}_log_records_per_minute {_number(snap.rate_per_minute)}",
            f"# HELP {ns}_log_invalid_durations_total Records whose duration_ms was not a number >= 0.",
            f"# TYPE {ns}_log_invalid_durations_total counter",
            f"{ns}_log_invalid_durations_total {snap.invalid_durations}",
            f"# HELP {ns}_log_duration_ms Durations carried by records' duration_ms field.",
            f"# TYPE {ns}_log_duration_ms histogram",
        ]
        for logger, stats in sorted(snap.durations.items()):
            label = f'logger="{_label(logger)}"'
            for bound, count in stats.buckets:
                lines.append(f'{ns}_log_duration_ms_bucket{{{label},le="{_number(bound)}"}} {count}')
            lines.append(f"{ns}_log_duration_ms_sum{{{label}}} {_number(stats.total)}")
            lines.append(f"{ns}_log_duration_ms_count{{{label}}} {stats.count}")
        return "\n".join(lines) + "\n"
