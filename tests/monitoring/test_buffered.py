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
