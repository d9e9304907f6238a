"""RateLimitFilter: exact token-bucket counts under threads, and one summary per suppressed burst."""

from __future__ import annotations

import logging
import logging.handlers
import os
import re
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from stalwart.monitoring import (
    CorrelationFilter,
    MonitoringConfigError,
    RateLimitFilter,
    bind_context,
    get_correlation_id,
    reconfigure_logging,
    with_correlation,
)
from stalwart.monitoring._ratelimit import flush_all_summaries

TIMER_NAME = "stalwart-ratelimit-summaries"


def timer_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == TIMER_NAME]


@pytest.fixture(autouse=True)
def _no_timer_left_behind() -> Iterator[None]:
    """Every test ends with no summary timer running (a later test counting threads must not see one)."""
    yield
    flush_all_summaries()
    for thread in timer_threads():
        thread.join(30)  # one that was emitting when flushed ends right after
    assert [] == timer_threads()


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


def rec(
    msg: str = "disk %s full",
    args: tuple[object, ...] = ("sda",),
    name: str = "app",
    level: int = logging.WARNING,
) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, args, None)


def test_burst_passes_then_the_rest_is_suppressed_until_tokens_refill() -> None:
    clock = FakeClock()
    summaries: list[logging.LogRecord] = []
    f = RateLimitFilter(rate=2.0, burst=3, clock=clock, sink=summaries.append)
    assert [True, True, True, False, False] == [f.filter(rec()) for _ in range(5)]
    clock.advance(0.5)  # one token back
    assert [True, False] == [f.filter(rec()) for _ in range(2)]
    assert (4, 3) == (f.passed, f.suppressed)


def test_a_summary_record_precedes_the_first_record_after_suppression() -> None:
    clock = FakeClock()
    out: list[logging.LogRecord] = []
    f = RateLimitFilter(rate=1.0, burst=1, clock=clock, sink=out.append, timer=False)
    f.filter(rec(args=("a",)))
    for _ in range(4):
        f.filter(rec(args=("b",)))
    assert [] == out
    clock.advance(1.0)
    user_record = rec(args=("c",))
    assert f.filter(user_record) is True
    [summary] = out
    assert "suppressed 4 similar records: disk %s full" == summary.getMessage()
    assert (4, logging.WARNING, "app") == (vars(summary)["suppressed"], summary.levelno, summary.name)
    assert "disk c full" == user_record.getMessage()  # the user's message is untouched


def test_keys_are_independent_per_logger_and_template() -> None:
    f = RateLimitFilter(rate=1.0, burst=1, clock=FakeClock(), sink=lambda r: None)
    assert [True, True, True, False] == [
        f.filter(rec("a %s")),
        f.filter(rec("b %s")),
        f.filter(rec("a %s", name="other")),
        f.filter(rec("a %s", args=("different arg, same template",))),
    ]


def test_exact_counts_under_eight_threads_with_a_fake_clock() -> None:
    clock = FakeClock()
    summaries: list[logging.LogRecord] = []
    f = RateLimitFilter(rate=10.0, burst=50, clock=clock, sink=summaries.append)
    passed = [0] * 8
    barrier = threading.Barrier(8)

    def hammer(index: int) -> None:
        barrier.wait(timeout=30)
        for _ in range(1000):
            if f.filter(rec()):
                passed[index] += 1

    threads = [threading.Thread(target=hammer, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert (50, 7950) == (sum(passed), f.suppressed)
    clock.advance(2.0)  # 20 tokens
    threads = [threading.Thread(target=hammer, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert (70, 8000 * 2 - 70) == (sum(passed), f.suppressed)
    f.flush_summaries()
    assert 8000 * 2 - 70 == sum(vars(s)["suppressed"] for s in summaries)


def test_flush_summaries_reports_pending_suppression_once() -> None:
    out: list[logging.LogRecord] = []
    f = RateLimitFilter(rate=1.0, burst=1, clock=FakeClock(), sink=out.append)
    for _ in range(3):
        f.filter(rec())
    assert (1, 0) == (f.flush_summaries(), f.flush_summaries())
    assert [2] == [vars(s)["suppressed"] for s in out]


def test_a_filter_shared_by_two_handlers_decides_once_per_record() -> None:
    f = RateLimitFilter(rate=1.0, burst=1, clock=FakeClock(), sink=lambda r: None)
    record = rec()
    assert (True, True) == (f.filter(record), f.filter(record))
    assert 1 == f.passed


def test_summaries_go_through_the_records_logger_by_default() -> None:
    seen: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record.getMessage())

    clock = FakeClock()
    handler = Collect()
    handler.addFilter(RateLimitFilter(rate=1.0, burst=1, clock=clock, timer=False))
    logger = logging.getLogger("test.ratelimit.route")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    for n in range(3):
        logger.info("tick %d", n)
    clock.advance(1.0)
    logger.info("tick %d", 3)
    assert ["tick 0", "suppressed 2 similar records: tick %d", "tick 3"] == seen


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"rate": 0}, "rate"),
        ({"rate": float("inf")}, "rate"),
        ({"burst": 0}, "burst"),
        ({"key": "nope"}, "rate limit key"),
        ({"summary_interval": 0}, "summary_interval"),
    ],
)
def test_bad_settings_raise_naming_the_setting(kwargs: dict[str, object], key: str) -> None:
    with pytest.raises(MonitoringConfigError, match=f"unknown {key}"):
        RateLimitFilter(**kwargs)  # type: ignore[arg-type]


def test_a_child_forked_while_the_lock_is_held_can_still_filter() -> None:
    f = RateLimitFilter(rate=1.0, burst=1, sink=lambda _record: None)
    f._lock.acquire()  # as if another thread were deciding at the moment of fork
    try:
        pid = os.fork()
        if pid == 0:
            code = 1
            signal.alarm(10)  # a child stuck on the inherited lock dies instead of hanging the test
            try:
                code = 0 if f.filter(rec()) else 1
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
    finally:
        f._lock.release()
    assert 0 == os.waitstatus_to_exitcode(status)


def test_a_flood_that_stopped_is_summarised_by_the_next_record_of_any_key() -> None:
    clock = FakeClock()
    out: list[logging.LogRecord] = []
    f = RateLimitFilter(rate=1.0, burst=2, clock=clock, sink=out.append, timer=False)
    for i in range(10):
        f.filter(rec("disk full %d", (i,)))
    clock.advance(100.0)  # the flood is over; its key never logs again
    assert f.filter(rec("user %s logged in", ("ada",))) is True
    [summary] = out
    assert "suppressed 8 similar records: disk full %d" == summary.getMessage()
    assert 0 == f.flush_summaries()


def test_a_flood_still_running_is_not_summarised_by_other_keys() -> None:
    clock = FakeClock()
    out: list[logging.LogRecord] = []
    f = RateLimitFilter(rate=1.0, burst=2, clock=clock, sink=out.append)
    for i in range(10):
        f.filter(rec("disk full %d", (i,)))
    clock.advance(0.5)  # not even one token back
    f.filter(rec("user %s logged in", ("ada",)))
    assert [] == out
    assert 1 == f.flush_summaries()


def test_pending_summaries_are_logged_at_interpreter_exit(tmp_path: Path) -> None:
    script = tmp_path / "flood.py"
    script.write_text(
        "import logging\n"
        "from stalwart.monitoring import RateLimitFilter\n"
        "handler = logging.StreamHandler()\n"
        "handler.addFilter(RateLimitFilter(rate=0.001, burst=2))\n"
        "logger = logging.getLogger('flood')\n"
        "logger.addHandler(handler)\n"
        "logger.propagate = False\n"
        "for i in range(10):\n"
        "    logger.warning('disk full %d', i)\n"
    )
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=True)
    assert ["disk full 0", "disk full 1", "suppressed 8 similar records: disk full %d"] == result.stderr.splitlines()


def test_a_forked_child_does_not_report_the_parents_suppressed_records() -> None:
    out: list[logging.LogRecord] = []
    f = RateLimitFilter(rate=0.001, burst=1, sink=out.append)
    for _ in range(3):
        f.filter(rec())
    pid = os.fork()
    if pid == 0:
        code = 1
        signal.alarm(20)
        try:
            code = f.flush_summaries()  # 0 summaries: the parent reports its own suppression
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert 0 == os.waitstatus_to_exitcode(status)
    assert 1 == f.flush_summaries()


class Collect(logging.Handler):
    """Keeps the records it is given (a summary's attributes are checked, not only its text)."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    @property
    def messages(self) -> list[str]:
        return [record.getMessage() for record in self.records]


def _flood(logger: logging.Logger, clock: FakeClock) -> None:
    for i in range(5):
        logger.warning("tick %d", i)
    clock.advance(10.0)
    logger.warning("after")


def test_summaries_go_only_to_the_handlers_that_carry_the_filter() -> None:
    clock = FakeClock()
    logger = logging.getLogger("test.ratelimit.handlers")
    logger.propagate = False
    console, file, unfiltered = Collect(), Collect(), Collect()
    console.addFilter(RateLimitFilter(rate=1, burst=2, clock=clock, timer=False))
    file.addFilter(RateLimitFilter(rate=1, burst=2, clock=clock, timer=False))
    for handler in (console, file, unfiltered):
        logger.addHandler(handler)
    try:
        _flood(logger, clock)
    finally:
        logger.handlers.clear()
    expected = ["tick 0", "tick 1", "suppressed 3 similar records: tick %d", "after"]
    assert expected == console.messages == file.messages
    assert ["tick 0", "tick 1", "tick 2", "tick 3", "tick 4", "after"] == unfiltered.messages


def test_a_filter_on_a_logger_sends_its_summary_through_that_logger_to_every_handler() -> None:
    clock = FakeClock()
    logger = logging.getLogger("test.ratelimit.logger")
    logger.propagate = False
    first, second = Collect(), Collect()
    logger.addHandler(first)
    logger.addHandler(second)
    rate_filter = RateLimitFilter(rate=1, burst=2, clock=clock, timer=False)
    logger.addFilter(rate_filter)
    try:
        _flood(logger, clock)
    finally:
        logger.handlers.clear()
        logger.removeFilter(rate_filter)
    expected = ["tick 0", "tick 1", "suppressed 3 similar records: tick %d", "after"]
    assert expected == first.messages == second.messages


def test_reconfiguring_emits_pending_summaries_before_the_old_handlers_close(tmp_path: Path) -> None:
    script = f"""
import logging
from stalwart.monitoring import setup_logging
setup_logging("staging", log_dir={str(tmp_path)!r}, features={{"file": False, "database": False}})
log = logging.getLogger("flood")
for i in range(260):
    log.warning("flood %d", i)
setup_logging("testing", log_dir={str(tmp_path)!r})
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    assert "similar records: flood %d" in result.stderr + result.stdout, result


def test_a_filter_on_the_target_of_a_buffering_handler_gets_its_summary() -> None:
    clock = FakeClock()
    logger = logging.getLogger("test.ratelimit.target")
    logger.propagate = False
    target, unlimited = Collect(), Collect()
    target.addFilter(RateLimitFilter(rate=1, burst=2, clock=clock, timer=False))
    buffered = logging.handlers.MemoryHandler(capacity=1, target=target)
    logger.addHandler(buffered)
    logger.addHandler(unlimited)
    try:
        _flood(logger, clock)
    finally:
        logger.handlers.clear()
    assert ["tick 0", "tick 1", "suppressed 3 similar records: tick %d", "after"] == target.messages
    assert "suppressed 3 similar records: tick %d" not in unlimited.messages


def correlated_logger(name: str, rate_filter: RateLimitFilter) -> tuple[logging.Logger, Collect]:
    keep = Collect()
    keep.addFilter(CorrelationFilter())
    keep.addFilter(rate_filter)
    logger = logging.getLogger(name)
    logger.addHandler(keep)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger, keep


def test_the_summary_carries_the_correlation_id_and_context_of_the_flooding_request() -> None:
    clock = FakeClock()
    # rate 0.001: the timer's first wake-up is a minute away, so the req-B record emits the summary.
    logger, keep = correlated_logger("test.ratelimit.correlation", RateLimitFilter(rate=0.001, burst=1, clock=clock))
    with with_correlation("req-A"), bind_context(user="alice"):
        for i in range(5):
            logger.warning("retry %d", i)
    clock.advance(1000.0)
    with with_correlation("req-B"), bind_context(user="bob"):
        logger.info("hello")
    first, summary, hello = keep.records
    assert ("retry 0", "req-A", "alice") == (first.getMessage(), vars(first)["correlation_id"], vars(first)["user"])
    assert "suppressed 4 similar records: retry %d" == summary.getMessage()
    assert ("req-A", "alice") == (vars(summary)["correlation_id"], vars(summary)["user"])
    assert ("hello", "req-B", "bob") == (hello.getMessage(), vars(hello)["correlation_id"], vars(hello)["user"])


def test_a_summary_of_records_from_several_requests_names_none_of_them() -> None:
    clock = FakeClock()
    logger, keep = correlated_logger("test.ratelimit.mixed", RateLimitFilter(rate=0.001, burst=1, clock=clock))
    for request, user in [("req-A", "alice"), ("req-C", "carol")]:
        with with_correlation(request), bind_context(user=user):
            for i in range(3):
                logger.warning("retry %d", i)
    clock.advance(1000.0)
    with with_correlation("req-B"), bind_context(user="bob"):
        logger.info("hello")
    summary = keep.records[1]
    assert "suppressed 5 similar records: retry %d" == summary.getMessage()
    assert None is vars(summary)["correlation_id"]
    assert "user" not in vars(summary)


def test_a_flood_that_stops_is_summarised_by_the_timer_without_another_record() -> None:
    clock = FakeClock()
    out: list[tuple[str, str, str | None]] = []
    arrived = threading.Event()

    def sink(summary: logging.LogRecord) -> None:
        out.append((summary.getMessage(), threading.current_thread().name, get_correlation_id()))
        arrived.set()

    # Full again 20 ms (fake) after the flood: the timer looks every 20 ms (real) until the fake clock gets there.
    f = RateLimitFilter(rate=100.0, burst=2, clock=clock, sink=sink)
    with with_correlation("req-A"):
        for i in range(10):
            f.filter(rec("disk full %d", (i,)))
    assert [] == out
    clock.advance(10.0)
    assert arrived.wait(30)
    assert [("suppressed 8 similar records: disk full %d", TIMER_NAME, "req-A")] == out
    assert 0 == f.flush_summaries()


def _read_until(stream: int, needle: bytes, seconds: float) -> bytes:
    """Read ``stream`` until ``needle`` arrives, the stream ends or ``seconds`` pass."""
    data = b""
    deadline = time.monotonic() + seconds
    while needle not in data:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([stream], [], [], remaining)[0]:
            break
        chunk = os.read(stream, 4096)
        if not chunk:
            break
        data += chunk
    return data


def test_a_flood_that_stops_is_written_before_the_process_is_killed(tmp_path: Path) -> None:
    script = tmp_path / "flood.py"
    script.write_text(
        "import logging, sys, threading\n"
        "from stalwart.monitoring import RateLimitFilter\n"
        "handler = logging.StreamHandler(sys.stdout)\n"
        "handler.addFilter(RateLimitFilter(rate=10, burst=2))\n"
        "logger = logging.getLogger('flood')\n"
        "logger.addHandler(handler)\n"
        "logger.propagate = False\n"
        "for i in range(10):\n"
        "    logger.warning('disk full %d', i)\n"
        "threading.Event().wait(120)  # logs nothing more; killed by the test\n"
    )
    with subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE) as child:
        assert child.stdout is not None
        try:
            data = _read_until(child.stdout.fileno(), b"similar records", 30)
        finally:
            child.send_signal(signal.SIGTERM)
            data += child.stdout.read()
        assert -signal.SIGTERM == child.wait(30)
    *passed, summary = data.decode().splitlines()
    # A loaded machine may let a refilled token through mid-flood: the counts add up whatever the timing.
    counted = re.fullmatch(r"suppressed (\d+) similar records: disk full %d", summary)
    assert counted is not None, data
    assert [f"disk full {i}" for i in range(len(passed))] == passed
    assert 10 == len(passed) + int(counted[1])


def test_a_forked_child_runs_its_own_summary_timer() -> None:
    clock = FakeClock()
    out: list[logging.LogRecord] = []
    arrived = threading.Event()

    def sink(summary: logging.LogRecord) -> None:
        out.append(summary)
        arrived.set()

    f = RateLimitFilter(rate=100.0, burst=1, clock=clock, sink=sink)
    for _ in range(3):
        f.filter(rec())  # the parent's timer now waits for a fake time that never comes
    assert 1 == len(timer_threads())
    pid = os.fork()
    if pid == 0:
        code = 1
        signal.alarm(40)
        try:
            no_timer = [] == timer_threads()
            for _ in range(4):
                f.filter(rec("child %s"))
            clock.advance(10.0)
            got = arrived.wait(30) and ["suppressed 3 similar records: child %s"] == [s.getMessage() for s in out]
            code = 0 if no_timer and got else 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert 0 == os.waitstatus_to_exitcode(status)
    assert 1 == f.flush_summaries()
    assert ["suppressed 2 similar records: disk %s full"] == [s.getMessage() for s in out]


def test_flush_summaries_stops_the_timer() -> None:
    f = RateLimitFilter(rate=0.001, burst=1, sink=lambda _record: None)
    for _ in range(3):
        f.filter(rec())
    assert 1 == len(timer_threads())
    assert 1 == f.flush_summaries()
    assert [] == timer_threads()


def test_reconfiguring_while_flooding_leaves_no_timer_thread(tmp_path: Path) -> None:
    threads = threading.active_count()
    for n in range(20):
        reconfigure_logging("production", log_dir=tmp_path, features={"console": False})
        log = logging.getLogger("test.ratelimit.churn")
        # The profile lets 200 through, then 50/s: unless these take 2 s, some are suppressed and a timer starts.
        for i in range(300):
            log.warning("round %d record %d", n, i)
        assert 1 == len(timer_threads())
    reconfigure_logging("testing", features={"console": False})
    assert [] == timer_threads()
    assert threads == threading.active_count()


def test_a_continuous_flood_gets_one_summary_when_it_ends_not_one_per_passing_record() -> None:
    clock = FakeClock()
    out: list[logging.LogRecord] = []
    f = RateLimitFilter(rate=10, burst=20, clock=clock, sink=out.append)
    passed = 0
    for i in range(10_000):  # 1000 records/s for 10 s
        passed += f.filter(rec("tick %d", (i,)))
        clock.advance(0.001)
    assert (119, []) == (passed, out)  # the burst, then one record per 0.1 s; no summary while it goes on
    assert 1 == f.flush_summaries()
    assert [9881] == [vars(s)["suppressed"] for s in out]


def test_a_flood_that_never_stops_is_summarised_once_per_interval() -> None:
    clock = FakeClock()
    out: list[logging.LogRecord] = []
    f = RateLimitFilter(rate=10, burst=20, clock=clock, sink=out.append, summary_interval=60.0, timer=False)
    for i in range(15_000):  # 100 records/s for 150 s
        f.filter(rec("tick %d", (i,)))
        clock.advance(0.01)
    assert 2 == len(out)
    f.flush_summaries()
    assert f.suppressed == sum(vars(s)["suppressed"] for s in out)
    assert 3 == len(out)


@pytest.mark.parametrize(("rate", "step"), [(1.0, 0.1), (3.0, 1 / 30), (10.0, 0.01), (7.0, 1 / 70)])
def test_tokens_refill_exactly_whatever_the_clock_steps_add_up_to(rate: float, step: float) -> None:
    clock = FakeClock()
    f = RateLimitFilter(rate=rate, burst=1, clock=clock, sink=lambda _record: None)
    f.filter(rec())  # takes the only token
    steps = round(1 / (rate * step))  # one token's worth of steps
    passed = 0
    for _ in range(5 * steps):
        clock.advance(step)
        passed += f.filter(rec())
    assert 5 == passed
