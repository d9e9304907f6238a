"""MetricsHandler counts, rates and duration histograms, in a snapshot and as Prometheus text."""

from __future__ import annotations

import logging
import os
import re
from typing import TYPE_CHECKING, Any

import pytest
from stalwart.monitoring import MetricsHandler, MonitoringConfigError

if TYPE_CHECKING:
    from tests.monitoring.conftest import Attach


class FakeClock:
    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def parse_prometheus(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    samples = {}
    types = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            types[name] = kind
            continue
        if line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        assert match, line
        labels = tuple(sorted(_LABEL.findall(match.group(2) or "")))
        samples[(match.group(1), labels)] = float(match.group(3))
    assert set(types.values()) <= {"counter", "gauge", "histogram"}
    return samples


def test_counts_by_level_and_logger(attach: Attach) -> None:
    handler = MetricsHandler(clock=FakeClock())
    api = attach(handler, "test.metrics.api")
    db = attach(handler, "test.metrics.db")
    api.info("a")
    api.info("b")
    api.error("c")
    db.warning("d")
    snap = handler.snapshot()
    assert 4 == snap.total
    assert {"INFO": 2, "ERROR": 1, "WARNING": 1} == snap.by_level
    assert {"test.metrics.api": 3, "test.metrics.db": 1} == snap.by_logger
    assert 2 == snap.by_level_logger[("INFO", "test.metrics.api")]


def test_rate_per_minute_covers_only_the_window(attach: Attach) -> None:
    clock = FakeClock()
    handler = MetricsHandler(clock=clock, window_seconds=60)
    logger = attach(handler, "test.metrics.rate")
    for _ in range(30):
        logger.info("old")
    clock.now += 30
    for _ in range(10):
        logger.info("recent")
    assert 40.0 == handler.snapshot().rate_per_minute
    clock.now += 45  # the first 30 fall out of the window
    assert 10.0 == handler.snapshot().rate_per_minute


def test_durations_are_parsed_into_histograms_and_bad_ones_counted(attach: Attach) -> None:
    handler = MetricsHandler(clock=FakeClock(), buckets_ms=(10, 100))
    logger = attach(handler, "test.metrics.dur")
    for value in (5, 50, "70.5", 500):
        logger.info("done", extra={"duration_ms": value})
    for bad in ("slow", -1, float("nan")):
        logger.info("done", extra={"duration_ms": bad})
    snap = handler.snapshot()
    stats = snap.durations["test.metrics.dur"]
    assert (4, 625.5, 5.0, 500.0) == (stats.count, stats.total, stats.minimum, stats.maximum)
    assert ((10.0, 1), (100.0, 3), (float("inf"), 4)) == stats.buckets
    assert 625.5 / 4 == stats.mean
    assert 3 == snap.invalid_durations


def test_prometheus_text_parses_back_to_the_snapshot(attach: Attach) -> None:
    handler = MetricsHandler(clock=FakeClock(), buckets_ms=(10, 100))
    logger = attach(handler, 'test.metrics."quoted"')
    logger.info("x", extra={"duration_ms": 20})
    logger.error("y")
    text = handler.prometheus_text()
    assert text.endswith("\n")
    samples = parse_prometheus(text)
    name = 'test.metrics.\\"quoted\\"'
    assert 1.0 == samples[("stalwart_log_records_total", (("level", "INFO"), ("logger", name)))]
    assert 1.0 == samples[("stalwart_log_records_total", (("level", "ERROR"), ("logger", name)))]
    assert 2.0 == samples[("stalwart_log_records_per_minute", ())]
    assert 0.0 == samples[("stalwart_log_duration_ms_bucket", (("le", "10"), ("logger", name)))]
    assert 1.0 == samples[("stalwart_log_duration_ms_bucket", (("le", "+Inf"), ("logger", name)))]
    assert 20.0 == samples[("stalwart_log_duration_ms_sum", (("logger", name),))]
    assert 1.0 == samples[("stalwart_log_duration_ms_count", (("logger", name),))]


@pytest.mark.parametrize(
    "settings",
    [
        {"namespace": "my-app"},
        {"namespace": ""},
        {"window_seconds": 0},
        {"window_seconds": float("inf")},
        {"window_seconds": "sixty"},
        {"buckets_ms": (10, float("nan"))},
        {"buckets_ms": ["x"]},
        {"buckets_ms": "250"},
        {"window_seconds": True},
    ],
    ids=["dash-namespace", "empty-namespace", "zero-window", "inf-window", "text-window", "nan-bucket", "text-bucket",
         "str-buckets", "bool-window"],
)
def test_settings_prometheus_or_the_rate_cannot_use_are_refused(settings: dict[str, Any]) -> None:
    with pytest.raises(MonitoringConfigError):
        MetricsHandler(**settings)


def test_a_bucket_bound_given_twice_is_one_series() -> None:
    handler = MetricsHandler(clock=FakeClock(), buckets_ms=(100, 10, 100))
    assert (10.0, 100.0) == handler.buckets_ms


def test_a_bool_duration_is_counted_invalid_not_as_one_millisecond(attach: Attach) -> None:
    handler = MetricsHandler(clock=FakeClock())
    attach(handler, "test.metrics.bool").info("done", extra={"duration_ms": True})
    snap = handler.snapshot()
    assert (1, {}) == (snap.invalid_durations, snap.durations)


def test_a_logger_name_with_lone_surrogates_or_none_still_gives_utf8_exposition(attach: Attach) -> None:
    handler = MetricsHandler(clock=FakeClock())
    attach(handler, b"job-\xff".decode("utf-8", "surrogateescape")).info("x", extra={"duration_ms": 1})
    handler.handle(logging.makeLogRecord({"msg": "from a socket", "levelno": logging.INFO}))
    text = handler.prometheus_text()
    text.encode("utf-8")  # raised UnicodeEncodeError
    assert 'logger="job-\\\\udcff"' in text
    assert 1 == handler.snapshot().by_logger[""]


def test_a_forked_child_counts_only_its_own_records(attach: Attach) -> None:
    handler = MetricsHandler(clock=FakeClock())
    logger = attach(handler, "test.metrics.fork")
    logger.info("before the fork")
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            logger.info("in the child")
            os.write(write, str(handler.snapshot().total).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as stream:
        child_total = int(stream.read())
    os.waitpid(pid, 0)
    assert 1 == child_total
    assert 1 == handler.snapshot().total
