"""CorrelationFilter and ContextFilter stamp records without dropping any."""

from __future__ import annotations

import logging

from stalwart.core import current_host
from stalwart.monitoring import ContextFilter, CorrelationFilter, bind_context, with_correlation


def rec(**extra: object) -> logging.LogRecord:
    record = logging.LogRecord("app", logging.INFO, __file__, 1, "m", (), None)
    record.__dict__.update(extra)
    return record


def test_correlation_filter_sets_none_outside_a_scope_and_never_drops() -> None:
    record = rec()
    assert CorrelationFilter().filter(record) is True
    assert vars(record)["correlation_id"] is None


def test_correlation_filter_keeps_an_explicit_id() -> None:
    record = rec(correlation_id="explicit")
    with with_correlation("ambient"):
        CorrelationFilter().filter(record)
    assert "explicit" == vars(record)["correlation_id"]


def test_correlation_filter_with_a_name_stamps_only_that_subtree() -> None:
    other = logging.LogRecord("other", logging.INFO, __file__, 1, "m", (), None)
    with with_correlation("c"):
        assert CorrelationFilter("app").filter(other) is True
    assert not hasattr(other, "correlation_id")


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_context_filter_adds_user_session_host_and_elapsed() -> None:
    clock = FakeClock()
    f = ContextFilter(user="system", session="s0", fields={"service": "api"}, clock=clock)
    clock.now += 0.25
    record = rec()
    assert f.filter(record) is True
    fields = vars(record)
    assert ("system", "s0", "api", current_host(), 250.0) == (
        fields["user"], fields["session"], fields["service"], fields["host"], fields["elapsed_ms"],
    )  # fmt: skip


def test_context_filter_prefers_bound_user_and_explicit_extras() -> None:
    record = rec(session="explicit")
    with bind_context(user="ada", session="bound"):
        ContextFilter(user="system").filter(record)
    assert ("ada", "explicit") == (vars(record)["user"], vars(record)["session"])


def test_context_filter_measures_elapsed_from_the_correlation_scope() -> None:
    f = ContextFilter()
    with with_correlation("r"):
        record = rec()
        f.filter(record)
    assert 0.0 <= vars(record)["elapsed_ms"] < 60_000.0


def test_context_filter_with_its_own_clock_still_measures_a_correlation_scope_sensibly() -> None:
    clock = FakeClock()  # far from time.monotonic(): mixing the two gave huge or negative values
    clock.now = 10.0**9
    f = ContextFilter(clock=clock)
    with with_correlation("r"):
        record = rec()
        f.filter(record)
    assert 0.0 <= vars(record)["elapsed_ms"] < 60_000.0
