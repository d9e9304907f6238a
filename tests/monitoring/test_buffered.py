"""BufferedHandler forwards on capacity, severity, interval and close."""

from __future__ import annotations

import logging
import logging.config
import os
import signal
import threading
from typing import TYPE_CHECKING

import pytest
from stalwart.monitoring import BufferedHandler, MonitoringConfigError

if TYPE_CHECKING:
    from pathlib import Path

    from tests.monitoring.conftest import Attach


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []
        self.arrived = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())
        self.arrived.set()


def test_records_are_held_until_capacity_then_forwarded_in_order(attach: Attach) -> None:
    target = Collect()
    logger = attach(BufferedHandler(capacity=3, flush_interval=None, target=target), "test.buf.capacity")
    logger.info("a")
    logger.info("b")
    assert [] == target.messages
    logger.info("c")
    assert ["a", "b", "c"] == target.messages


def test_a_severe_record_forwards_the_context_before_it(attach: Attach) -> None:
    target = Collect()
    logger = attach(
        BufferedHandler(capacity=100, flush_level="ERROR", flush_interval=None, target=target),
        "test.buf.level",
    )
    logger.debug("step 1")
    logger.info("step 2")
    logger.error("failed")
    assert ["step 1", "step 2", "failed"] == target.messages


def test_the_timer_forwards_a_partial_buffer(attach: Attach) -> None:
    target = Collect()
    handler = BufferedHandler(capacity=100, flush_interval=0.05, target=target)
    attach(handler, "test.buf.timer").info("waiting")
    assert target.arrived.wait(30)
    assert ["waiting"] == target.messages
    handler.close()


def test_close_forwards_the_rest_and_stops_the_timer(attach: Attach) -> None:
    target = Collect()
    handler = BufferedHandler(capacity=100, flush_interval=60, target=target)
    attach(handler, "test.buf.close").info("last words")
    before = threading.active_count()
    handler.close()
    assert ["last words"] == target.messages
    assert before - 1 == threading.active_count()


def test_without_a_target_a_full_buffer_is_dropped_and_counted(attach: Attach) -> None:
    handler = BufferedHandler(capacity=2, flush_interval=None)
    logger = attach(handler, "test.buf.notarget")
    for n in range(5):
        logger.info("n %d", n)
    assert (4, 1) == (handler.dropped, len(handler.buffer))


def test_target_can_be_named_in_dict_config() -> None:
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "handlers": {
                "sink": {"()": Collect},
                "buffer": {
                    "class": "stalwart.monitoring.BufferedHandler",
                    "capacity": 2,
                    "flush_interval": None,
                    "target": "sink",
                },
            },
            "loggers": {"test.buf.dict": {"handlers": ["buffer"], "level": "INFO", "propagate": False}},
        }
    )
    logger = logging.getLogger("test.buf.dict")
    logger.info("x")
    logger.info("y")
    buffer = logger.handlers[0]
    assert isinstance(buffer, BufferedHandler)
    assert isinstance(buffer.target, Collect)
    assert ["x", "y"] == buffer.target.messages


def test_bad_settings_are_rejected() -> None:
    with pytest.raises(MonitoringConfigError, match="capacity"):
        BufferedHandler(capacity=0)
    with pytest.raises(MonitoringConfigError, match="flush_level 'SOMETIMES'"):
        BufferedHandler(flush_level="SOMETIMES")


def test_a_forked_child_does_not_forward_the_parents_buffered_records(tmp_path: Path, attach: Attach) -> None:
    path = tmp_path / "app.log"
    target = logging.FileHandler(path)
    handler = BufferedHandler(capacity=1000, flush_interval=None, target=target)
    logger = attach(handler, "test.buf.fork")
    for i in range(3):
        logger.info("parent %d", i)
    pid = os.fork()
    if pid == 0:
        code = 1
        signal.alarm(20)  # a child stuck on an inherited lock dies instead of hanging the test
        try:
            logger.error("child failed")  # severe: forwards the child's buffer at once
            target.flush()
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert 0 == os.waitstatus_to_exitcode(status)
    handler.close()
    target.close()
    assert ["child failed", "parent 0", "parent 1", "parent 2"] == path.read_text().splitlines()


@pytest.mark.parametrize("with_target", [False, True], ids=["no-target", "flush_on_close-off"])
def test_records_left_at_close_that_go_nowhere_are_counted(attach: Attach, with_target: bool) -> None:
    target = Collect() if with_target else None
    handler = BufferedHandler(capacity=10, flush_interval=None, target=target, flush_on_close=not with_target)
    logger = attach(handler, f"test.buffered.leftover.{with_target}")
    logger.info("one")
    logger.info("two")
    handler.close()
    assert 2 == handler.dropped
    assert [] == (target.messages if target is not None else [])


def test_a_record_handled_after_close_is_counted_as_dropped(attach: Attach) -> None:
    target = Collect()
    handler = BufferedHandler(capacity=10, flush_interval=None, target=target)
    logger = attach(handler, "test.buffered.afterclose")
    handler.close()
    logger.info("after close")
    assert (1, [], []) == (handler.dropped, handler.buffer, target.messages)


class Chatty(Collect):
    """A target that logs while forwarding (a library it calls, as urllib3 does), back onto the buffer."""

    def __init__(self, logger: logging.Logger) -> None:
        super().__init__()
        self.logger = logger

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())
        self.logger.debug("sent %s", record.getMessage())
        self.arrived.set()


@pytest.mark.parametrize("flush_by", ["timer", "flush-call"])
def test_what_the_target_logs_while_forwarding_is_dropped_and_nothing_is_forwarded_twice(
    attach: Attach, flush_by: str
) -> None:
    name = f"test.buf.chatty.{flush_by}"
    target = Chatty(logging.getLogger(f"{name}.lib"))  # propagates to the buffer's logger
    handler = BufferedHandler(capacity=5, flush_interval=0.01 if flush_by == "timer" else None, target=target)
    logger = attach(handler, name)
    logger.info("hello")
    if flush_by == "timer":
        assert target.arrived.wait(30)
    else:
        handler.flush()
    handler.close()  # waits for the timer, forwards anything left
    assert (["hello"], 1, 0) == (target.messages, handler.reentrant_dropped, handler.dropped)


class WatchedLock:
    """A handler lock that notes when the timer thread asks for it while the closing thread holds it."""

    def __init__(self, inner: threading.RLock) -> None:
        self.inner = inner
        self.closer_holds = False
        self.timer_waits = threading.Event()

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        if self.closer_holds and threading.current_thread().name == "stalwart-buffer-flush":
            self.timer_waits.set()
        return self.inner.acquire(blocking, timeout)

    def release(self) -> None:
        self.inner.release()

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def test_close_under_the_handler_lock_does_not_wait_for_a_timer_blocked_on_that_lock(attach: Attach) -> None:
    target = Collect()
    handler = BufferedHandler(capacity=100, flush_interval=0.01, target=target)
    assert handler.lock is not None
    lock = WatchedLock(handler.lock)
    handler.lock = lock  # type: ignore[assignment]  # duck-typed stand-in
    attach(handler, "test.buf.shutdown").info("pending")  # starts the timer

    def shutdown() -> None:
        # What logging.shutdown() and every dictConfig do: acquire, flush, close, release.
        handler.acquire()
        try:
            lock.closer_holds = True
            if lock.timer_waits.wait(30):  # the timer woke and now waits for the lock we hold
                handler.flush()
                handler.close()
        finally:
            handler.release()

    closer = threading.Thread(target=shutdown)
    closer.start()
    closer.join(10)  # a hang detector only: the bug made close() wait 30 s for the timer
    assert not closer.is_alive()
    assert lock.timer_waits.is_set()
    assert ["pending"] == target.messages


class Flaky(logging.Handler):
    """A target with no try/except in emit: it raises on every record whose message starts with 'bad'."""

    def __init__(self, expected: list[str]) -> None:
        super().__init__()
        self.messages: list[str] = []
        self.seen = {message: threading.Event() for message in expected}

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("bad"):
            raise ConnectionError("collector down")
        self.messages.append(message)
        self.seen[message].set()


@pytest.mark.parametrize("flush_by", ["capacity", "timer"])
def test_a_failing_target_is_reported_once_per_cause_and_the_other_records_go_through_once(
    attach: Attach, capsys: pytest.CaptureFixture[str], flush_by: str
) -> None:
    target = Flaky(["a", "c", "d", "e"])
    by_timer = flush_by == "timer"
    handler = BufferedHandler(
        capacity=1000 if by_timer else 3, flush_interval=0.01 if by_timer else None, target=target
    )
    logger = attach(handler, f"test.buf.flaky.{flush_by}")
    for message in ["a", "bad 1", "c"]:
        logger.info(message)  # never raises into the caller
    assert target.seen["c"].wait(30)
    # The same cause again in a later flush (for the timer: it survived the first failure).
    for message in ["bad 2", "d", "e"]:
        logger.info(message)
    assert target.seen["e"].wait(30)
    handler.close()
    assert (["a", "c", "d", "e"], 2) == (target.messages, handler.error_count)
    assert 1 == capsys.readouterr().err.count("--- Logging error ---")


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("capacity", "10"),
        ("capacity", True),
        ("capacity", 2.5),
        ("flush_interval", "5"),
        ("flush_interval", float("inf")),
    ],
)
def test_settings_of_the_wrong_type_are_rejected_by_name(key: str, value: object) -> None:
    with pytest.raises(MonitoringConfigError, match=key):
        BufferedHandler(**{key: value})  # type: ignore[arg-type]  # as dictConfig would pass them


class Interrupted(Collect):
    """A target interrupted (Ctrl-C) while forwarding the record 'b'."""

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage() == "b":
            raise KeyboardInterrupt
        super().emit(record)


def test_an_interrupted_flush_keeps_the_records_not_yet_forwarded_and_resends_none(attach: Attach) -> None:
    target = Interrupted()
    handler = BufferedHandler(capacity=10, flush_interval=None, target=target)
    logger = attach(handler, "test.buf.interrupted")
    for message in ["a", "b", "c"]:
        logger.info(message)
    with pytest.raises(KeyboardInterrupt):
        handler.flush()
    assert ["c"] == [record.getMessage() for record in handler.buffer]
    handler.flush()
    assert ["a", "c"] == target.messages


def test_close_while_the_first_record_is_still_starting_the_timer_does_not_fail(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    starting, release = threading.Event(), threading.Event()

    class SlowToStart(threading.Thread):
        """The handler's timer thread, slow to start; any other thread starts as usual."""

        def start(self) -> None:
            if self.name == "stalwart-buffer-flush":
                starting.set()
                release.wait(30)
            super().start()

    monkeypatch.setattr(threading, "Thread", SlowToStart)
    target = Collect()
    handler = BufferedHandler(capacity=10, flush_interval=60.0, target=target)
    record = logging.makeLogRecord({"msg": "first", "levelno": logging.INFO, "levelname": "INFO"})
    first = threading.Thread(target=handler.handle, args=(record,))
    first.start()
    assert starting.wait(30)
    errors: list[BaseException] = []

    def close() -> None:
        try:
            handler.close()  # joined the timer before it started: RuntimeError
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    closing = threading.Thread(target=close)
    closing.start()
    try:
        assert handler._stop.wait(30)  # close() is under way while the timer is still starting
    finally:
        release.set()
        first.join(30)
        closing.join(30)
    assert not first.is_alive()
    assert not closing.is_alive()
    assert [] == errors
    assert ["first"] == target.messages  # close forwarded it
