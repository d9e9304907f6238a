from __future__ import annotations

import base64
import multiprocessing
import multiprocessing.synchronize
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from stalwart.core import Record, current_host
from stalwart.ipc_logger import (
    MASTER_LOGGER_NAME,
    DeliveryError,
    FileLogHandler,
    IPCLoggerError,
    LoggerConfig,
    MasterLogger,
    ShutdownTimeoutError,
    WorkerClosedError,
    WorkerLogger,
)
from stalwart.ipc_logger import _protocol as proto
from stalwart.ipc_logger import _worker as worker_module

_fork = multiprocessing.get_context("fork")
_TIMEOUT_S = 60.0

ReadJsonl = Callable[[Path], list[Record]]


def _log_n(config: LoggerConfig, name: str, count: int) -> None:
    """Child body: log ``count`` records then shut down; exit 3 if the master did not ack."""
    worker = WorkerLogger(config, name)
    for index in range(count):
        worker.info(f"{name} {index}", extra={"i": index})
    try:
        worker.shutdown(timeout_s=_TIMEOUT_S)
    except ShutdownTimeoutError:
        os._exit(3)


def _run_children(target: Callable[..., None], args_list: list[tuple[object, ...]]) -> list[int | None]:
    procs = [_fork.Process(target=target, args=args) for args in args_list]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(_TIMEOUT_S)
    return [proc.exitcode for proc in procs]


def _by_worker(records: list[Record]) -> dict[str, list[int]]:
    seen: dict[str, list[int]] = {}
    for record in records:
        if record.logger.startswith("w"):
            seen.setdefault(record.logger, []).append(record.extra["i"])
    return seen


def test_four_workers_times_20000_records_arrive_exactly_once_in_order(
    ipc_path: str, sock_dir: Path, read_jsonl: ReadJsonl
) -> None:
    config = LoggerConfig(path=ipc_path)
    out = sock_dir / "all.jsonl"
    with MasterLogger(config, [FileLogHandler(out, json_lines=True)]) as master:
        codes = _run_children(_log_n, [(config, f"w{i}", 20_000) for i in range(4)])
    assert [0, 0, 0, 0] == codes
    expected = list(range(20_000))
    assert {f"w{i}": expected for i in range(4)} == _by_worker(read_jsonl(out))
    stats = master.stats()
    assert (80_000, 0, 0) == (stats.received, stats.lost, stats.dropped)
    assert {"closed"} == {w.state for w in stats.workers}


def test_shutdown_right_after_the_last_log_loses_nothing_20_times(
    ipc_path: str, sock_dir: Path, read_jsonl: ReadJsonl
) -> None:
    config = LoggerConfig(path=ipc_path, flush_interval_s=5.0)
    out = sock_dir / "tail.jsonl"
    with MasterLogger(config, [FileLogHandler(out, json_lines=True)]):
        for round_ in range(20):
            assert [0] == _run_children(_log_n, [(config, f"w{round_}", 250)])
    assert {f"w{r}": list(range(250)) for r in range(20)} == _by_worker(read_jsonl(out))


def _log_until_blocked(
    config: LoggerConfig, name: str, count: int, started: multiprocessing.synchronize.Event
) -> None:
    worker = WorkerLogger(config, name)
    for index in range(count):
        if index == 100:
            started.set()
        worker.info(f"{name} {index}", extra={"i": index})
    try:
        worker.shutdown(timeout_s=_TIMEOUT_S)
    except ShutdownTimeoutError:
        os._exit(3)


def test_master_started_after_the_workers_loses_nothing_with_overflow_block(
    ipc_path: str, sock_dir: Path, read_jsonl: ReadJsonl
) -> None:
    # Far more records than the buffer (500) plus ZeroMQ's queue hold: workers block, not drop.
    config = LoggerConfig(path=ipc_path, queue_limit=500, max_batch=50, overflow="block")
    events = [_fork.Event() for _ in range(2)]
    procs = [
        _fork.Process(target=_log_until_blocked, args=(config, f"w{i}", 5_000, events[i])) for i in range(2)
    ]
    for proc in procs:
        proc.start()
    for event in events:
        assert event.wait(_TIMEOUT_S)
    out = sock_dir / "late.jsonl"
    with MasterLogger(config, [FileLogHandler(out, json_lines=True)]) as master:
        for proc in procs:
            proc.join(_TIMEOUT_S)
    assert [0, 0] == [proc.exitcode for proc in procs]
    assert {"w0": list(range(5_000)), "w1": list(range(5_000))} == _by_worker(read_jsonl(out))
    assert 0 == master.stats().dropped


def test_drop_newest_counts_drops_and_reports_them_to_the_master(
    ipc_path: str, sock_dir: Path, read_jsonl: ReadJsonl
) -> None:
    config = LoggerConfig(path=ipc_path, queue_limit=10, max_batch=5, overflow="drop_newest")
    worker = WorkerLogger(config, "w0")
    for index in range(5_000):  # nobody is listening yet: the buffer overflows
        worker.info(f"w0 {index}", extra={"i": index})
    stats = worker.stats()
    assert stats.dropped > 0
    assert 5_000 == stats.logged + stats.dropped
    out = sock_dir / "drops.jsonl"
    with MasterLogger(config, [FileLogHandler(out, json_lines=True)]) as master:
        worker.shutdown(timeout_s=_TIMEOUT_S)
    records = read_jsonl(out)
    assert stats.logged == len(_by_worker(records)["w0"])
    assert stats.dropped == master.stats().dropped
    # Batches queued before the overflow carry older counts, so the report may come in steps.
    reported = [
        r.extra["dropped"] for r in records if r.logger == MASTER_LOGGER_NAME and "dropped" in r.extra
    ]
    assert stats.dropped == sum(reported)


def test_shutdown_without_a_master_raises_shutdown_timeout_naming_the_path(ipc_path: str) -> None:
    worker = WorkerLogger(LoggerConfig(path=ipc_path), "lonely")
    worker.info("nobody hears this")
    with pytest.raises(ShutdownTimeoutError, match="did not acknowledge") as info:
        worker.shutdown(timeout_s=0.5)
    assert ipc_path == info.value.path
    assert 1 == info.value.last_seq


def _wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + _TIMEOUT_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def test_shutdown_racing_a_logging_thread_delivers_every_accepted_record_and_counts_the_refused(
    ipc_path: str, sock_dir: Path, read_jsonl: ReadJsonl
) -> None:
    # A small blocking buffer: the logging thread is often waiting for room when shutdown begins.
    config = LoggerConfig(path=ipc_path, queue_limit=2_000, max_batch=200)
    out = sock_dir / "race.jsonl"
    accepted: list[int] = []
    refused: list[WorkerClosedError] = []

    def spam(worker: WorkerLogger) -> None:
        index = 0
        while len(refused) < 5:
            try:
                worker.info(f"w {index}", extra={"i": index})
            except WorkerClosedError as exc:
                refused.append(exc)
                continue
            accepted.append(index)
            index += 1

    with MasterLogger(config, [FileLogHandler(out, json_lines=True)]) as master:
        worker = WorkerLogger(config, "w")
        thread = threading.Thread(target=spam, args=(worker,))
        thread.start()
        _wait_for(lambda: worker.stats().logged >= 5_000, "the thread to be logging")
        worker.shutdown(timeout_s=_TIMEOUT_S)
        thread.join(_TIMEOUT_S)
    assert not thread.is_alive()
    assert list(range(len(accepted))) == accepted
    assert {"w": accepted} == _by_worker(read_jsonl(out))
    stats = worker.stats()
    assert (len(accepted), len(accepted), 5, 0) == (stats.logged, stats.acked_seq, stats.refused, stats.pending)
    assert len(accepted) == master.stats().received
    assert "shut down" in str(refused[0])


def test_shutdown_raises_delivery_error_when_the_master_reports_a_lost_batch(
    ipc_path: str, sock_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = LoggerConfig(path=ipc_path, max_batch=10, flush_interval_s=5.0)
    with MasterLogger(config, [FileLogHandler(sock_dir / "lossy.log")]) as master:
        worker = WorkerLogger(config, "w")
        real_send = worker._send
        batches = 0

        def lossy_send(sock: object, frames: list[bytes]) -> None:  # the transport loses batch 2
            nonlocal batches
            if frames[0] == proto.BATCH:
                batches += 1
                if batches == 2:
                    return
            real_send(sock, frames)  # type: ignore[arg-type]

        monkeypatch.setattr(worker, "_send", lossy_send)
        for index in range(30):
            worker.info(f"r{index}")
        with pytest.raises(DeliveryError, match="cannot confirm delivery") as info:
            worker.shutdown(timeout_s=_TIMEOUT_S)
    assert (30, 10, 10, 0) == (info.value.sent_seq, info.value.acked_seq, info.value.lost, info.value.unconfirmed)
    assert 20 == master.stats().received


def _log_five_and_return(worker: WorkerLogger, index: int) -> None:
    for record in range(5):
        worker.info(f"child {index} rec {record}", extra={"i": record})
    # No shutdown(): multiprocessing ends the child with os._exit, atexit never runs.


def test_multiprocessing_fork_children_that_never_shut_down_still_deliver(
    ipc_path: str, sock_dir: Path, read_jsonl: ReadJsonl
) -> None:
    config = LoggerConfig(path=ipc_path, flush_interval_s=5.0)
    out = sock_dir / "children.jsonl"
    with MasterLogger(config, [FileLogHandler(out, json_lines=True)]) as master:
        worker = WorkerLogger(config, "w")
        codes = _run_children(_log_five_and_return, [(worker, index) for index in range(3)])
        worker.shutdown()  # the parent never logged: returns at once
    assert [0, 0, 0] == codes
    records = [r for r in read_jsonl(out) if r.logger == "w"]
    assert 15 == len(records)
    assert {f"child {c} rec {r}" for c in range(3) for r in range(5)} == {r.message for r in records}
    assert {"closed"} == {w.state for w in master.stats().workers}


def test_a_failed_sender_refuses_the_next_log_call_and_shows_in_stats(
    ipc_path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    first_accepted = threading.Event()

    def broken(_self: WorkerLogger, _sock: object) -> None:
        first_accepted.wait(_TIMEOUT_S)
        raise OSError("simulated transport failure")

    monkeypatch.setattr(worker_module.WorkerLogger, "_serve", broken)
    worker = WorkerLogger(LoggerConfig(path=ipc_path), "w")
    worker.info("accepted before the sender thread failed")
    first_accepted.set()
    _wait_for(lambda: worker.stats().failure != "", "the sender failure to be recorded")
    with pytest.raises(WorkerClosedError, match="simulated transport failure"):
        worker.info("refused")
    assert (1, "OSError('simulated transport failure')") == (worker.stats().refused, worker.stats().failure)
    with pytest.raises(IPCLoggerError, match="sender failed"):
        worker.shutdown(timeout_s=1.0)


def test_logging_after_shutdown_raises(ipc_path: str, sock_dir: Path) -> None:
    config = LoggerConfig(path=ipc_path)
    with MasterLogger(config, [FileLogHandler(sock_dir / "x.log")]):
        worker = WorkerLogger(config, "w")
        worker.info("one")
        worker.shutdown()
        with pytest.raises(WorkerClosedError, match="shut down"):
            worker.info("two")
    assert 1 == worker.stats().refused


def test_levels_below_base_level_are_skipped_and_extra_and_msg_bytes_travel(
    ipc_path: str, sock_dir: Path, read_jsonl: ReadJsonl
) -> None:
    config = LoggerConfig(path=ipc_path, base_level=20)
    out = sock_dir / "levels.jsonl"
    with (
        MasterLogger(config, [FileLogHandler(out, json_lines=True)]),
        WorkerLogger(config, "lv") as worker,
    ):
        worker.trace("t")
        worker.debug("d")
        worker.info("i", extra={"user": "ada", "obj": object})
        worker.warning("w")
        worker.error("e", msg_bytes=b"\x00\xff")
        worker.critical("c")
    assert 4 == worker.stats().acked_seq  # the master acknowledged the last seq at shutdown
    records = [r for r in read_jsonl(out) if r.logger == "lv"]
    assert ["i", "w", "e", "c"] == [r.message for r in records]
    assert [20, 30, 40, 50] == [r.level for r in records]
    assert [1, 2, 3, 4] == [r.seq for r in records]
    assert "ada" == records[0].extra["user"]
    assert repr(object) == records[0].extra["obj"]
    assert b"\x00\xff" == base64.b64decode(records[2].extra["msg_bytes"])


def test_plain_records_carry_every_field_and_a_lone_surrogate_batch_still_arrives(
    ipc_path: str, sock_dir: Path, read_jsonl: ReadJsonl
) -> None:
    # max_batch=4: the plain records (built by the sender's fast path) and the
    # unencodable message (which sends its batch through encode_batch's clean-up) travel
    # in batches of their own and mixed with a record that has ``extra``.
    config = LoggerConfig(path=ipc_path, max_batch=4, flush_interval_s=5.0)
    out = sock_dir / "plain.jsonl"
    with (
        MasterLogger(config, [FileLogHandler(out, json_lines=True)]),
        WorkerLogger(config, "pl") as worker,
    ):
        worker.info("main 1")
        helper = threading.Thread(target=lambda: worker.warning("from helper"), name="helper-T")
        helper.start()
        helper.join(_TIMEOUT_S)
        worker.info("with extra", extra={"k": 1})
        worker.error("bad \udc80 text")
        for index in range(6):
            worker.info(f"tail {index}")
    records = [r for r in read_jsonl(out) if r.logger == "pl"]
    assert list(range(1, 11)) == [r.seq for r in records]
    assert "from helper" == records[1].message
    assert ("helper-T", 30) == (records[1].thread_name, records[1].level)
    assert {threading.current_thread().name} == {r.thread_name for i, r in enumerate(records) if i != 1}
    assert {os.getpid()} == {r.pid for r in records}
    assert {threading.get_ident()} == {r.thread for i, r in enumerate(records) if i != 1}
    assert {"log"} == {r.kind for r in records}
    assert {"k": 1} == records[2].extra
    assert [{}] * 9 == [r.extra for i, r in enumerate(records) if i != 2]
    assert {(multiprocessing.current_process().name, current_host())} == {(r.process, r.host) for r in records}
    assert records[3].message.startswith("bad ")
    assert [f"tail {i}" for i in range(6)] == [r.message for r in records[4:]]


def _child_logs_with_inherited_worker(worker: WorkerLogger) -> None:
    worker.info("child")
    worker.shutdown(timeout_s=_TIMEOUT_S)


def test_forked_child_gets_its_own_socket_thread_and_sequence(
    ipc_path: str, sock_dir: Path, read_jsonl: ReadJsonl
) -> None:
    config = LoggerConfig(path=ipc_path)
    out = sock_dir / "fork.jsonl"
    with MasterLogger(config, [FileLogHandler(out, json_lines=True)]) as master:
        worker = WorkerLogger(config, "shared")
        worker.info("parent before fork")
        child = _fork.Process(target=_child_logs_with_inherited_worker, args=(worker,))
        child.start()
        child.join(_TIMEOUT_S)
        worker.info("parent after fork")
        worker.shutdown()
    assert 0 == child.exitcode
    records = [r for r in read_jsonl(out) if r.logger == "shared"]
    assert [("child", child.pid, 1)] == [(r.message, r.pid, r.seq) for r in records if r.pid != os.getpid()]
    parent = [(r.message, r.seq) for r in records if r.pid == os.getpid()]
    assert [("parent before fork", 1), ("parent after fork", 2)] == parent
    assert 0 == master.stats().lost


def test_worker_rejects_an_empty_name_and_port_zero(ipc_path: str) -> None:
    with pytest.raises(IPCLoggerError, match="name"):
        WorkerLogger(LoggerConfig(path=ipc_path), "")
    with pytest.raises(IPCLoggerError, match="real port"):
        WorkerLogger(LoggerConfig(path="tcp://127.0.0.1:0"), "w")
