from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.synchronize
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
import zmq
from stalwart.core import Record, encode_batch
from stalwart.ipc_logger import (
    MASTER_LOGGER_NAME,
    AddressInUseError,
    DeliveryError,
    FileLogHandler,
    LoggerConfig,
    LoggingHandlerAdapter,
    LogHandler,
    MasterLogger,
    WorkerInfo,
    WorkerLogger,
)
from stalwart.ipc_logger import _master as master_module
from stalwart.ipc_logger import _protocol as proto

_fork = multiprocessing.get_context("fork")
_TIMEOUT_S = 60.0

ReadJsonl = Callable[[Path], list[Record]]


def _wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + _TIMEOUT_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def _worker_named(master: MasterLogger, name: str) -> WorkerInfo | None:
    return next((w for w in master.workers() if w.name == name), None)


def _log_then_hang(config: LoggerConfig, ready: multiprocessing.synchronize.Event) -> None:
    worker = WorkerLogger(config, "doomed")
    worker.info("about to be killed")
    while worker.stats().sent < 1:
        time.sleep(0.01)
    ready.set()
    time.sleep(_TIMEOUT_S * 2)


def _log_until_stopped(config: LoggerConfig, stop: multiprocessing.synchronize.Event) -> None:
    worker = WorkerLogger(config, "survivor")
    index = 0
    while not stop.is_set():
        worker.info(f"survivor {index}", extra={"i": index})
        index += 1
        stop.wait(0.01)
    worker.info("last", extra={"i": index})
    worker.shutdown(timeout_s=_TIMEOUT_S)


def test_sigkilled_worker_is_reported_dead_after_interval_plus_grace_and_others_continue(
    ipc_path: str, sock_dir: Path, read_jsonl: ReadJsonl
) -> None:
    config = LoggerConfig(path=ipc_path, heartbeat_interval_s=0.5, heartbeat_grace_s=2.0)
    out = sock_dir / "dead.jsonl"
    ready, stop = _fork.Event(), _fork.Event()
    with MasterLogger(config, [FileLogHandler(out, json_lines=True)]) as master:
        doomed = _fork.Process(target=_log_then_hang, args=(config, ready))
        survivor = _fork.Process(target=_log_until_stopped, args=(config, stop))
        doomed.start()
        survivor.start()
        assert ready.wait(_TIMEOUT_S)
        assert doomed.pid is not None
        os.kill(doomed.pid, signal.SIGKILL)
        doomed.join(_TIMEOUT_S)
        _wait_for(lambda: getattr(_worker_named(master, "doomed"), "state", "") == "dead", "dead report")
        stop.set()
        survivor.join(_TIMEOUT_S)
    assert 0 == survivor.exitcode
    records = read_jsonl(out)
    dead = [r for r in records if r.logger == MASTER_LOGGER_NAME and "appears dead" in r.message]
    assert ["doomed"] == [r.extra["worker"] for r in dead]
    assert 30 == dead[0].level
    got = [r.extra["i"] for r in records if r.logger == "survivor"]
    assert list(range(len(got))) == got
    assert "closed" == getattr(_worker_named(master, "survivor"), "state", None)


def test_second_master_on_the_same_ipc_path_fails_with_a_clear_error(ipc_path: str) -> None:
    config = LoggerConfig(path=ipc_path)
    with MasterLogger(config, []), pytest.raises(AddressInUseError, match="another master"):
        MasterLogger(config, [])


def test_second_master_on_the_same_tcp_port_fails_with_a_clear_error() -> None:
    with (
        MasterLogger(LoggerConfig(path="tcp://127.0.0.1:0"), []) as first,
        pytest.raises(AddressInUseError, match="in use"),
    ):
        MasterLogger(LoggerConfig(path=first.endpoint), [])


def test_a_stale_socket_file_is_taken_over(sock_dir: Path) -> None:
    stale = sock_dir / "stale.sock"
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(stale))
    dead.close()  # the file stays behind, as after a crashed master
    with MasterLogger(LoggerConfig(path=f"ipc://{stale}"), []) as master:
        assert f"ipc://{stale}" == master.endpoint


_DIES_LEAVING_A_CHILD = """
import os, sys, time
from stalwart.ipc_logger import LoggerConfig, MasterLogger
master = MasterLogger(LoggerConfig(path=sys.argv[1]), [])
if os.fork() == 0:  # a worker forked from the master's process, outliving it
    print(os.getpid(), flush=True)
    os.close(1)
    os.close(2)
    time.sleep(120)  # the test kills it
    os._exit(0)
os._exit(0)  # the master dies without shutdown while its child lives on
"""


def test_a_dead_masters_forked_children_do_not_keep_its_path(ipc_path: str, sock_dir: Path) -> None:
    script = sock_dir / "dies.py"
    script.write_text(_DIES_LEAVING_A_CHILD)
    done = subprocess.run(
        [sys.executable, str(script), ipc_path], capture_output=True, text=True, timeout=_TIMEOUT_S
    )
    orphan = int(done.stdout.strip())
    try:
        assert 0 == done.returncode, done.stderr
        with MasterLogger(LoggerConfig(path=ipc_path), []) as master:
            assert ipc_path == master.endpoint
    finally:
        os.kill(orphan, signal.SIGKILL)


def _child_over_tcp(config: LoggerConfig) -> None:
    with WorkerLogger(config, "remote") as worker:
        for index in range(1_000):
            worker.info(f"r {index}", extra={"i": index})


def test_tcp_transport_on_localhost_delivers_everything(sock_dir: Path, read_jsonl: ReadJsonl) -> None:
    out = sock_dir / "tcp.jsonl"
    with MasterLogger(
        LoggerConfig(path="tcp://127.0.0.1:0"), [FileLogHandler(out, json_lines=True)]
    ) as master:
        assert master.endpoint.startswith("tcp://127.0.0.1:")
        child = _fork.Process(target=_child_over_tcp, args=(LoggerConfig(path=master.endpoint),))
        child.start()
        child.join(_TIMEOUT_S)
    assert 0 == child.exitcode
    assert list(range(1_000)) == [r.extra["i"] for r in read_jsonl(out) if r.logger == "remote"]


class _Exploding(LogHandler):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def push(self, records: Sequence[Record]) -> None:
        self.calls += 1
        raise RuntimeError("disk on fire")


class _Collecting(LogHandler):
    def __init__(self, level: int = 0) -> None:
        super().__init__(level=level)
        self.records: list[Record] = []

    def push(self, records: Sequence[Record]) -> None:
        self.records.extend(records)


def test_a_raising_handler_is_isolated_and_the_others_receive_everything(
    ipc_path: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One report per interval: make the interval outlast the test however loaded the machine is.
    monkeypatch.setattr(master_module, "_REPORT_INTERVAL_S", 3600.0)
    config = LoggerConfig(path=ipc_path, max_batch=10)
    exploding, collecting = _Exploding(), _Collecting()
    with (
        MasterLogger(config, [exploding, collecting]) as master,
        WorkerLogger(config, "w") as worker,
    ):
        for index in range(100):
            worker.info(f"m{index}")
    assert [f"m{i}" for i in range(100)] == [r.message for r in collecting.records if r.logger == "w"]
    assert exploding.calls == master.stats().handler_errors["_Exploding()"]
    assert exploding.calls >= 10
    logged = [r for r in caplog.records if "disk on fire" in r.getMessage()]
    assert 1 == len(logged)  # reported once per interval, not once per failure


class _LockedDatabase(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            raise RuntimeError("database is locked")
        except RuntimeError:
            self.handleError(record)  # what stdlib handlers do instead of raising


def test_errors_a_stdlib_handler_reports_via_handle_error_are_counted_once_per_batch(ipc_path: str) -> None:
    config = LoggerConfig(path=ipc_path, flush_interval_s=5.0)
    # WARNING and up only: the master's own INFO notices do not reach the adapter.
    adapter = LoggingHandlerAdapter(_LockedDatabase(), level=logging.WARNING)
    with MasterLogger(config, [adapter]) as master:
        worker = WorkerLogger(config, "w")
        for index in range(5):
            worker.warning(f"r{index}")
        worker.shutdown(timeout_s=_TIMEOUT_S)  # one batch of five
    assert {repr(adapter): 1} == master.stats().handler_errors
    assert 5 == master.stats().delivered


def test_base_level_and_handler_level_filter_records(ipc_path: str) -> None:
    master_config = LoggerConfig(path=ipc_path, base_level=30)
    everything, errors_only = _Collecting(), _Collecting(level=40)
    worker_config = LoggerConfig(path=ipc_path, base_level=0)
    with (
        MasterLogger(master_config, [everything, errors_only]) as master,
        WorkerLogger(worker_config, "w") as worker,
    ):
        for level in (10, 20, 30, 40, 50):
            worker.log(level, f"at {level}")
    assert ["at 30", "at 40", "at 50"] == [r.message for r in everything.records if r.logger == "w"]
    assert ["at 40", "at 50"] == [r.message for r in errors_only.records]
    assert (5, 3, 2) == (master.stats().received, master.stats().delivered, master.stats().filtered)


def _raw_dealer(path: str) -> tuple[zmq.Context[zmq.Socket[bytes]], zmq.Socket[bytes]]:
    context: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    sock = context.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 5000)
    sock.connect(path)
    return context, sock


def _header(last_seq: int) -> bytes:
    return proto.encode(proto.Header("raw", 4242, "h", "p", 60.0, last_seq, 0))


def _batch(seqs: range) -> bytes:
    return encode_batch([Record(ts_ns=1, level=20, logger="raw", message=f"s{s}", seq=s) for s in seqs])


def test_malformed_and_foreign_frames_are_counted_and_skipped(
    ipc_path: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One report per interval: make the interval outlast the test however loaded the machine is.
    monkeypatch.setattr(master_module, "_REPORT_INTERVAL_S", 3600.0)
    config = LoggerConfig(path=ipc_path)
    collecting = _Collecting()
    with MasterLogger(config, [collecting]) as master:
        context, sock = _raw_dealer(ipc_path)
        sock.send_multipart([b"garbage"])
        sock.send_multipart([proto.BATCH, b"not msgpack", b"x"])
        sock.send_multipart([proto.BATCH, _header(1), b"\xc1\xc1 truncated"])
        sock.send_multipart([b"Z", b"", b""])
        sock.close()
        context.term()
        _wait_for(lambda: master.stats().bad_frames == 4, "bad frames counted")
        with WorkerLogger(config, "w") as worker:
            worker.info("still fine")
    assert ["still fine"] == [r.message for r in collecting.records if r.logger == "w"]
    assert 1 == len([r for r in caplog.records if "malformed" in r.getMessage()])


def test_seq_gap_gives_a_warning_with_the_number_lost(ipc_path: str) -> None:
    collecting = _Collecting()
    with MasterLogger(LoggerConfig(path=ipc_path), [collecting]) as master:
        context, sock = _raw_dealer(ipc_path)
        sock.send_multipart([proto.HELLO, _header(0)])
        sock.send_multipart([proto.BATCH, _header(3), _batch(range(1, 4))])
        sock.send_multipart([proto.BATCH, _header(8), _batch(range(7, 9))])
        sock.send_multipart([proto.BYE, _header(10)])  # the last two never arrived
        assert sock.poll(int(_TIMEOUT_S * 1000))
        kind, ack = sock.recv_multipart()
        sock.close()
        context.term()
    assert proto.ACK == kind
    # Acknowledged: every record up to seq 3 only, from seq 1, with 5 lost.
    assert proto.Ack(last_seq=3, lost=5, first_seq=1) == proto.decode_ack(ack)
    notices = [r.message for r in collecting.records if r.logger == MASTER_LOGGER_NAME and r.level == 30]
    assert [
        "worker raw (pid 4242 on h): 3 records lost (seq 4..6 missing, noticed at batch)",
        "worker raw (pid 4242 on h): 2 records lost (seq 9..10 missing, noticed at check-in)",
    ] == notices
    stats = master.stats()
    assert (5, 2, 5) == (stats.lost, stats.gaps, stats.received)


def test_ack_covers_only_the_complete_run_from_the_first_seq_this_master_saw(ipc_path: str) -> None:
    with MasterLogger(LoggerConfig(path=ipc_path), [_Collecting()]) as master:
        context, sock = _raw_dealer(ipc_path)
        # No HELLO: this master joined late (a restart); seq 1..4 went elsewhere.
        sock.send_multipart([proto.BATCH, _header(7), _batch(range(5, 8))])
        sock.send_multipart([proto.BATCH, _header(12), _batch(range(10, 13))])  # 8..9 lost
        sock.send_multipart([proto.BYE, _header(12)])
        assert sock.poll(int(_TIMEOUT_S * 1000))
        kind, ack = sock.recv_multipart()
        sock.close()
        context.term()
    assert proto.ACK == kind
    assert proto.Ack(last_seq=7, lost=2, first_seq=5) == proto.decode_ack(ack)
    info = _worker_named(master, "raw")
    assert info is not None
    assert (5, 7, 12, 2) == (info.first_seq, info.complete_seq, info.last_seq, info.lost)


def test_workers_table_shows_name_pid_host_state_and_counts(ipc_path: str) -> None:
    config = LoggerConfig(path=ipc_path, heartbeat_interval_s=30.0)
    with MasterLogger(config, []) as master:
        worker = WorkerLogger(config, "table")
        worker.info("x")
        _wait_for(lambda: _worker_named(master, "table") is not None, "registration")
        alive = _worker_named(master, "table")
        worker.shutdown()
        closed = _worker_named(master, "table")
    assert alive is not None
    assert closed is not None
    assert ("table", os.getpid(), "alive") == (alive.name, alive.pid, alive.state)
    assert alive.next_checkin == pytest.approx(alive.last_seen + 30.0)
    assert ("closed", 1, 1) == (closed.state, closed.received, closed.last_seq)


def test_shutdown_is_idempotent_and_closes_handlers(ipc_path: str, sock_dir: Path) -> None:
    handler = FileLogHandler(sock_dir / "f.log")
    master = MasterLogger(LoggerConfig(path=ipc_path), [handler])
    master.shutdown()
    master.shutdown()
    with pytest.raises(ValueError, match="closed"):
        handler.push([Record.create(20, "x", "y")])
    # The path is free again.
    MasterLogger(LoggerConfig(path=ipc_path), []).shutdown()


class _Stuck(_Collecting):
    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def push(self, records: Sequence[Record]) -> None:
        self.release.wait(_TIMEOUT_S)
        super().push(records)


def test_a_slow_master_pushes_back_so_workers_drop_by_policy_and_count_it(ipc_path: str) -> None:
    config = LoggerConfig(path=ipc_path, queue_limit=50, max_batch=10, overflow="drop_newest")
    stuck = _Stuck()
    with MasterLogger(config, [stuck]) as master:
        worker = WorkerLogger(config, "w")
        for index in range(20_000):
            worker.info(f"m{index}")
        stuck.release.set()
        worker.shutdown(timeout_s=_TIMEOUT_S)
    stats = worker.stats()
    assert stats.dropped > 0
    assert 20_000 == stats.logged + stats.dropped
    assert stats.logged == len([r for r in stuck.records if r.logger == "w"])
    assert stats.dropped == master.stats().dropped


def test_workers_reconnect_to_a_restarted_master_on_the_same_path(ipc_path: str) -> None:
    config = LoggerConfig(path=ipc_path)
    first, second = _Collecting(), _Collecting()
    worker = WorkerLogger(config, "w")
    with MasterLogger(config, [first]) as master:
        for index in range(100):
            worker.info(f"a{index}")
        _wait_for(lambda: master.stats().received == 100, "first master got the first part")
    for index in range(100):
        worker.info(f"b{index}")  # nobody listening now: queued in the worker
    with MasterLogger(config, [second]) as restarted, pytest.raises(DeliveryError) as info:
        worker.shutdown(timeout_s=_TIMEOUT_S)
    assert [f"a{i}" for i in range(100)] == [r.message for r in first.records if r.logger == "w"]
    assert [f"b{i}" for i in range(100)] == [r.message for r in second.records if r.logger == "w"]
    assert 0 == restarted.stats().lost
    assert 200 == worker.stats().acked_seq
    # The restarted master vouches for seq 101..200 only: the first 100 went to an earlier instance.
    assert (200, 0, 100) == (info.value.acked_seq, info.value.lost, info.value.unconfirmed)


def test_default_path_directory_is_created_private_to_the_user(
    sock_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.setattr("tempfile.tempdir", str(sock_dir))
    runtime = sock_dir / f"stalwart-{os.getuid()}"
    with MasterLogger(LoggerConfig(), []) as master:
        assert f"ipc://{runtime}/stalwart.sock" == master.endpoint
        assert 0o700 == runtime.stat().st_mode & 0o777
