"""``MasterLogger``: receive worker batches, track workers, route records to handlers."""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
from collections.abc import Sequence
from typing import Literal

import msgspec
import zmq
from stalwart.core import Level, Record, RecordDecodeError, decode_batch
from stalwart.ipc_logger import _protocol as proto
from stalwart.ipc_logger._claim import PathClaim
from stalwart.ipc_logger._config import LoggerConfig
from stalwart.ipc_logger._errors import AddressInUseError, IPCLoggerError
from stalwart.ipc_logger._format import RecordFormatter
from stalwart.ipc_logger._handlers import LogHandler

__all__ = ["MASTER_LOGGER_NAME", "MasterLogger", "MasterStats", "WorkerInfo", "WorkerState"]

#: The ``logger`` of the records the master itself produces (dead workers, gaps, ...).
MASTER_LOGGER_NAME = "stalwart.ipc_logger.master"

#: A worker's state in the master's table.
WorkerState = Literal["alive", "dead", "closed"]

_log = logging.getLogger(MASTER_LOGGER_NAME)

_POLL_MS = 50
_RECEIVE_HWM = 64  # batches queued per worker connection
_MAX_MESSAGES_PER_WAKE = 256
_REPORT_INTERVAL_S = 10.0  # a recurring fault (bad frames, a failing handler) is logged at most this often
_DRAIN_QUIET_S = 0.2
_DEFAULT_DRAIN_TIMEOUT_S = 10.0


class WorkerInfo(msgspec.Struct, frozen=True):
    """What the master knows about one worker.

    Attributes:
        name: The worker's name.
        pid: Its process id.
        host: Its host name.
        process: Its process name.
        state: ``"alive"``, ``"dead"`` (missed its check-in plus grace) or
            ``"closed"`` (shut down cleanly).
        last_seen: When the master last heard from it (Unix seconds).
        next_checkin: When the master expects to hear from it next (Unix seconds).
        received: Records received from it.
        last_seq: The highest ``seq`` received from it.
        dropped: Records it reported dropping (``drop_newest``).
        lost: Records missing from its ``seq`` sequence.
        first_seq: The first ``seq`` this master saw from it (1 unless the
            master started or restarted after the worker's first records).
        complete_seq: The highest ``seq`` up to which every record from
            ``first_seq`` on was received (stops before the first gap); what
            the shutdown ACK acknowledges.

    """

    name: str
    pid: int
    host: str
    process: str
    state: WorkerState
    last_seen: float
    next_checkin: float
    received: int
    last_seq: int
    dropped: int
    lost: int
    first_seq: int = 1
    complete_seq: int = 0


class MasterStats(msgspec.Struct, frozen=True):
    """A snapshot of the master's counters.

    Attributes:
        received: Records decoded from workers.
        delivered: Records at or above ``base_level`` handed to the handlers.
        filtered: Records below ``base_level``.
        dropped: Records workers reported dropping by policy.
        lost: Records missing from workers' ``seq`` sequences.
        gaps: Number of distinct ``seq`` gaps seen.
        bad_frames: Malformed or foreign messages skipped.
        handler_errors: Failed pushes per handler (by ``repr``).
        workers: Every worker ever seen.

    """

    received: int
    delivered: int
    filtered: int
    dropped: int
    lost: int
    gaps: int
    bad_frames: int
    handler_errors: dict[str, int]
    workers: list[WorkerInfo]


@dataclasses.dataclass
class _Worker:
    name: str
    pid: int
    host: str
    process: str
    state: WorkerState = "alive"
    last_seen: float = 0.0
    deadline: float = 0.0  # monotonic time after which it is dead (check-in + grace)
    interval_s: float = 60.0
    received: int = 0
    last_seq: int = 0
    dropped: int = 0
    lost: int = 0
    first_seq: int = 1
    complete_seq: int = 0

    def info(self) -> WorkerInfo:
        next_checkin = self.last_seen + self.interval_s
        return WorkerInfo(
            name=self.name,
            pid=self.pid,
            host=self.host,
            process=self.process,
            state=self.state,
            last_seen=self.last_seen,
            next_checkin=next_checkin,
            received=self.received,
            last_seq=self.last_seq,
            dropped=self.dropped,
            lost=self.lost,
            first_seq=self.first_seq,
            complete_seq=self.complete_seq,
        )

    def label(self) -> str:
        return f"{self.name} (pid {self.pid} on {self.host})"


class _Throttle:
    """Say yes to the first report of a kind, then at most once per interval."""

    def __init__(self, interval_s: float) -> None:
        self._interval_s = interval_s
        self._next: dict[str, float] = {}

    def ready(self, key: str) -> bool:
        now = time.monotonic()
        if now < self._next.get(key, 0.0):
            return False
        self._next[key] = now + self._interval_s
        return True


class MasterLogger:
    """The one process that receives every worker's records and routes them to handlers.

    Binds ``config.path`` at construction and serves from a background
    thread: decodes batches of core :class:`~stalwart.core.Record`, drops
    those below ``config.base_level``, and pushes each batch to every
    handler in order. A handler that raises is isolated: its error is
    counted (see :meth:`stats`) and logged to the stdlib logger
    ``stalwart.ipc_logger.master`` at most once per 10 s; the others still
    receive the batch.

    It also tracks workers: a worker that misses its check-in
    (``heartbeat_interval_s``) by more than ``heartbeat_grace_s`` is reported
    with a WARNING "worker X appears dead"; a clean shutdown gives an INFO;
    a gap in a worker's ``seq`` gives a WARNING with the number of records
    lost, and drops a worker reports give a WARNING with the count. These
    notices are records too (logger ``stalwart.ipc_logger.master``), pushed
    to the handlers like any other.

    Malformed or foreign messages are counted and skipped (one WARNING per
    10 s), never fatal. The same endpoint answers ``status`` requests (see
    :func:`request_status`).

    Args:
        config: Shared options; ``tcp://host:0`` binds a free port (see :attr:`endpoint`).
        handlers: Where records go.

    Raises:
        AddressInUseError: If another master serves the same path (or port).
        IPCLoggerError: If the endpoint cannot be bound for another reason.

    """

    def __init__(self, config: LoggerConfig, handlers: Sequence[LogHandler]) -> None:
        self._config = config
        self._handlers = list(handlers)
        formatter = RecordFormatter(config.str_format)
        for handler in self._handlers:
            if handler.formatter is None:
                handler.set_formatter(formatter)
        self._base_level = int(config.base_level)
        self._grace_s = float(config.heartbeat_grace_s)
        self._lock = threading.Lock()
        self._workers: dict[bytes, _Worker] = {}
        self._received = 0
        self._delivered = 0
        self._filtered = 0
        self._dropped = 0
        self._lost = 0
        self._gaps = 0
        self._bad_frames = 0
        self._handler_errors: dict[str, int] = {}
        self._pending_notices: list[Record] = []
        self._throttle = _Throttle(_REPORT_INTERVAL_S)
        self._stop = threading.Event()
        self._drain_timeout_s = _DEFAULT_DRAIN_TIMEOUT_S
        self._closed = False
        self._pid = os.getpid()
        self._claim: PathClaim | None = None
        self._context: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        self._socket = self._bind()
        self._thread = threading.Thread(target=self._run, name="stalwart-ipc-master", daemon=True)
        self._thread.start()

    # -- binding -------------------------------------------------------------------------------

    def _bind(self) -> zmq.Socket[bytes]:
        endpoint = self._config.endpoint
        path = self._config.path
        if endpoint.scheme == "ipc":
            self._claim = PathClaim(path, endpoint.file)
        sock = self._context.socket(zmq.ROUTER)
        sock.setsockopt(zmq.LINGER, 1000)
        # Bounded per worker: a master slower than its workers pushes back, so their buffers
        # fill and their overflow policy (block / drop_newest, counted) decides, instead of
        # this process growing without limit.
        sock.setsockopt(zmq.RCVHWM, _RECEIVE_HWM)
        address = path if endpoint.scheme == "ipc" or endpoint.port else f"tcp://{endpoint.host}:*"
        try:
            sock.bind(address)
        except zmq.ZMQError as exc:
            sock.close(linger=0)
            self._context.term()
            if self._claim is not None:
                self._claim.release()
            if exc.errno == zmq.EADDRINUSE:
                raise AddressInUseError(path, "the address is already in use (another master?)") from exc
            raise IPCLoggerError(f"cannot bind master to {path}: {exc}") from exc
        self._endpoint = sock.getsockopt_string(zmq.LAST_ENDPOINT)
        return sock

    @property
    def endpoint(self) -> str:
        """The bound endpoint, with the real port when ``tcp://host:0`` was asked for."""
        return self._endpoint

    @property
    def config(self) -> LoggerConfig:
        """The options this master was built with."""
        return self._config

    # -- the receive thread --------------------------------------------------------------------

    def _run(self) -> None:
        sock = self._socket
        try:
            while not self._stop.is_set():
                if sock.poll(_POLL_MS, zmq.POLLIN):
                    self._receive_some(sock)
                self._check_heartbeats()
            self._drain(sock)
        except BaseException:
            _log.exception("ipc master receive thread stopped unexpectedly")
            raise
        finally:
            self._close_handlers()

    def _receive_some(self, sock: zmq.Socket[bytes]) -> int:
        count = 0
        while count < _MAX_MESSAGES_PER_WAKE:
            try:
                frames = sock.recv_multipart(flags=zmq.NOBLOCK)
            except zmq.Again:
                break
            count += 1
            self._handle(sock, frames)
        return count

    def _drain(self, sock: zmq.Socket[bytes]) -> None:
        """Process what is queued until the socket has been quiet for a moment (or the timeout)."""
        deadline = time.monotonic() + self._drain_timeout_s
        quiet_since = time.monotonic()
        while time.monotonic() < deadline:
            if self._receive_some(sock):
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= _DRAIN_QUIET_S:
                return
            else:
                sock.poll(_POLL_MS // 2, zmq.POLLIN)

    def _handle(self, sock: zmq.Socket[bytes], frames: list[bytes]) -> None:
        if len(frames) < 2:
            self._bad_frame(f"message with {len(frames)} frame(s)")
            return
        identity, kind = frames[0], frames[1]
        if kind == proto.STATUS:
            sock.send_multipart([identity, proto.STATUS_REPLY, msgspec.msgpack.encode(self.stats())])
            return
        if kind not in proto.KINDS_FROM_WORKER or len(frames) < 3:
            self._bad_frame(f"unknown message kind {kind[:16]!r} with {len(frames) - 1} frame(s)")
            return
        try:
            header = proto.decode_header(frames[2])
        except msgspec.DecodeError as exc:
            self._bad_frame(f"bad header: {exc}")
            return
        records: list[Record] = []
        if kind == proto.BATCH:
            if len(frames) != 4:
                self._bad_frame(f"batch with {len(frames) - 1} frames, expected 3")
                return
            try:
                records = decode_batch(frames[3])
            except RecordDecodeError as exc:
                self._bad_frame(f"batch from {header.name!r}: {exc}")
                return
        with self._lock:
            worker = self._track(identity, kind, header, records)
        self._flush_notices()
        if records:
            self._route(records)
        if kind == proto.BYE:
            ack = proto.Ack(last_seq=worker.complete_seq, lost=worker.lost, first_seq=worker.first_seq)
            sock.send_multipart([identity, proto.ACK, proto.encode(ack)])

    # -- worker bookkeeping (under self._lock) -----------------------------------------------------

    def _track(self, identity: bytes, kind: bytes, header: proto.Header, records: list[Record]) -> _Worker:
        now_mono = time.monotonic()
        worker = self._workers.get(identity)
        if worker is None:
            worker = _Worker(name=header.name, pid=header.pid, host=header.host, process=header.process)
            self._workers[identity] = worker
            if kind != proto.HELLO and records:
                # We missed its start (e.g. this master restarted): count gaps from here on,
                # and tell the worker at BYE that we cannot vouch for what came before.
                worker.last_seq = worker.complete_seq = records[0].seq - 1
                worker.first_seq = records[0].seq
            elif kind != proto.HELLO:
                worker.last_seq = worker.complete_seq = header.last_seq
                worker.first_seq = header.last_seq + 1
        elif worker.state == "dead" and kind != proto.BYE:
            worker.state = "alive"
            self._notice(Level.INFO, f"worker {worker.label()} is alive again", worker)
        worker.process = header.process or worker.process
        worker.last_seen = time.time()
        worker.interval_s = header.interval_s
        worker.deadline = now_mono + header.interval_s + self._grace_s
        if records:
            self._received += len(records)
            worker.received += len(records)
            self._check_seq(worker, records[0].seq, "batch")
            worker.last_seq = max(worker.last_seq, records[-1].seq)
            # A batch holds consecutive seqs; after a gap nothing can make the run complete again.
            if records[0].seq <= worker.complete_seq + 1:
                worker.complete_seq = max(worker.complete_seq, records[-1].seq)
        elif header.last_seq > worker.last_seq:
            # The header says more was sent than we got: the tail went missing.
            self._check_seq(worker, header.last_seq + 1, "check-in")
            worker.last_seq = header.last_seq
        if header.dropped > worker.dropped:
            delta = header.dropped - worker.dropped
            worker.dropped = header.dropped
            self._dropped += delta
            self._notice(
                Level.WARNING,
                f"worker {worker.label()} dropped {delta} records (buffer full, overflow=drop_newest)",
                worker,
                dropped=delta,
            )
        if kind == proto.BYE and worker.state != "closed":
            worker.state = "closed"
            self._notice(
                Level.INFO,
                f"worker {worker.label()} shut down cleanly after {worker.received} records",
                worker,
            )
        return worker

    def _check_seq(self, worker: _Worker, first_seq: int, where: str) -> None:
        expected = worker.last_seq + 1
        if first_seq > expected:
            missing = first_seq - expected
            worker.lost += missing
            self._lost += missing
            self._gaps += 1
            self._notice(
                Level.WARNING,
                f"worker {worker.label()}: {missing} records lost (seq {expected}..{first_seq - 1} "
                f"missing, noticed at {where})",
                worker,
                lost=missing,
            )

    def _check_heartbeats(self) -> None:
        now = time.monotonic()
        with self._lock:
            for worker in self._workers.values():
                if worker.state == "alive" and now > worker.deadline:
                    worker.state = "dead"
                    silent = time.time() - worker.last_seen
                    self._notice(
                        Level.WARNING,
                        f"worker {worker.label()} appears dead: no check-in for {silent:.1f}s "
                        f"(interval {worker.interval_s:g}s + grace {self._grace_s:g}s)",
                        worker,
                    )
        self._flush_notices()

    def _notice(self, level: int, message: str, worker: _Worker, **extra: int) -> None:
        """Queue a record about a worker for the handlers (pushed once the lock is released)."""
        record = Record.create(
            level,
            MASTER_LOGGER_NAME,
            message,
            extra={
                "worker": worker.name,
                "worker_pid": worker.pid,
                "worker_host": worker.host,
                **extra,
            },
        )
        # Handlers run on the receive thread, outside the lock: _flush_notices pushes these.
        self._pending_notices.append(record)

    def _flush_notices(self) -> None:
        if not self._pending_notices:
            return
        notices, self._pending_notices = self._pending_notices, []
        kept = [record for record in notices if record.level >= self._base_level]
        if kept:
            self._push(kept)

    # -- routing ---------------------------------------------------------------------------------

    def _route(self, records: list[Record]) -> None:
        base = self._base_level
        kept = [record for record in records if record.level >= base]
        self._filtered += len(records) - len(kept)
        if not kept:
            return
        self._delivered += len(kept)
        self._push(kept)

    def _push(self, kept: list[Record]) -> None:
        base = self._base_level
        for handler in self._handlers:
            batch = kept if handler.level <= base else [r for r in kept if r.level >= handler.level]
            if not batch:
                continue
            try:
                handler.push(batch)
            except Exception as exc:  # noqa: BLE001 - isolation: one handler must not starve the rest
                self._handler_failed(handler, exc)

    def _handler_failed(self, handler: LogHandler, exc: Exception) -> None:
        key = repr(handler)
        with self._lock:
            count = self._handler_errors[key] = self._handler_errors.get(key, 0) + 1
        if self._throttle.ready(f"handler:{key}"):
            _log.error(
                "ipc master: handler %s failed (%d failures so far): %s: %s",
                key,
                count,
                type(exc).__name__,
                exc,
                exc_info=exc,
            )

    def _bad_frame(self, reason: str) -> None:
        with self._lock:
            self._bad_frames += 1
            count = self._bad_frames
        if self._throttle.ready("bad-frame"):
            _log.warning(
                "ipc master at %s skipped a malformed message (%d so far): %s",
                self._endpoint,
                count,
                reason,
            )

    def _close_handlers(self) -> None:
        for handler in self._handlers:
            try:
                handler.close()
            except Exception as exc:  # noqa: BLE001 - close every handler even if one fails
                self._handler_failed(handler, exc)

    # -- public control --------------------------------------------------------------------------

    def stats(self) -> MasterStats:
        """Return the master's counters and every worker's (see :class:`MasterStats`)."""
        with self._lock:
            return MasterStats(
                received=self._received,
                delivered=self._delivered,
                filtered=self._filtered,
                dropped=self._dropped,
                lost=self._lost,
                gaps=self._gaps,
                bad_frames=self._bad_frames,
                handler_errors=dict(self._handler_errors),
                workers=[worker.info() for worker in self._workers.values()],
            )

    def workers(self) -> list[WorkerInfo]:
        """Return every worker seen so far: name, pid, host, last seen, state, counters."""
        return self.stats().workers

    def shutdown(self, timeout_s: float = _DEFAULT_DRAIN_TIMEOUT_S) -> None:
        """Process every message already queued, close the handlers and unbind.

        Calling it again does nothing, and so does calling it in a forked
        child: the socket, thread and path belong to the parent.

        Args:
            timeout_s: Upper bound on the drain; it ends earlier once the
                socket has been quiet for 0.2 s.

        """
        if self._closed or os.getpid() != self._pid:
            return
        self._closed = True
        self._drain_timeout_s = timeout_s
        self._stop.set()
        self._thread.join()
        self._socket.close(linger=0)
        self._context.term()
        if self._claim is not None:
            self._claim.release()

    def __enter__(self) -> MasterLogger:
        """Return the master; leaving the block calls :meth:`shutdown`."""
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Shut the master down (see :meth:`shutdown`)."""
        self.shutdown()

    def __repr__(self) -> str:
        """Show the endpoint and the handlers."""
        return f"MasterLogger(endpoint={self._endpoint!r}, handlers={self._handlers!r})"
