"""``WorkerLogger``: buffer records in the calling process, send them in batches from a thread."""

from __future__ import annotations

import atexit
import base64
import functools
import logging
import os
import threading
import time
import uuid
import warnings
import weakref
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

import msgspec
import zmq
from stalwart.core import Level, Record, current_host, encode_batch, reset_after_fork, to_jsonable
from stalwart.ipc_logger import _protocol as proto
from stalwart.ipc_logger._config import LoggerConfig
from stalwart.ipc_logger._errors import (
    ConfigError,
    DeliveryError,
    IPCLoggerError,
    ShutdownTimeoutError,
    WorkerClosedError,
)

__all__ = ["WorkerLogger", "WorkerStats"]

# ZeroMQ queues at most this many batches per worker before send() would block;
# beyond that the bounded record buffer (queue_limit) applies the overflow policy.
_SEND_HWM = 16
_POLL_MS = 100
_BYE_RESEND_S = 1.0
_DEFAULT_SHUTDOWN_TIMEOUT_S = 10.0
# Interpreter exit / multiprocessing child exit: a short, bounded chance to deliver the tail.
_EXIT_SHUTDOWN_TIMEOUT_S = 2.0
# multiprocessing runs finalizers with a higher exitpriority first; ours flushes before
# the usual queue/pool finalizers (priority <= 10) tear things down.
_EXIT_PRIORITY = 50
_SHUT_DOWN = "it is shut down (shutdown() began); create a new WorkerLogger"

_time_ns = time.time_ns
_current_thread = threading.current_thread


class WorkerStats(msgspec.Struct, frozen=True):
    """A snapshot of one worker's counters.

    Attributes:
        logged: Records accepted into the buffer (each got a ``seq``).
        sent: Records handed to the transport.
        dropped: Records dropped because the buffer was full (``drop_newest``).
        pending: Records still buffered in this process.
        acked_seq: The ``seq`` up to which the master acknowledged receiving
            every record, at shutdown (0 before).
        refused: Log calls refused with :class:`WorkerClosedError` because
            shutdown had begun or the sender thread had failed.
        failure: ``repr`` of the sender thread's failure, ``""`` while it is healthy.

    """

    logged: int
    sent: int
    dropped: int
    pending: int
    acked_seq: int
    refused: int = 0
    failure: str = ""


class _PlainRecord(msgspec.Struct, gc=False):
    """A record without ``extra``: encodes as a map that decodes as a core ``Record``.

    Field names and meaning match :class:`~stalwart.core.Record`; the fields
    left out take the defaults the master's decoder fills in. Built
    positionally, it costs the sender far less than ``Record(**fields)``.
    """

    ts_ns: int
    level: int
    logger: str
    message: str
    pid: int
    process: str
    thread: int
    thread_name: str
    host: str
    seq: int


_PLAIN_ENCODER = msgspec.msgpack.Encoder()
# What msgspec raises for values msgpack cannot carry (as stalwart.core's encode_batch handles).
_UNENCODABLE = (UnicodeEncodeError, TypeError, OverflowError)


class _LogMethod(Protocol):
    """The signature of the per-level log methods (see :func:`_level_method`)."""

    def __call__(
        self,
        worker: WorkerLogger,
        msg: Any,
        /,
        *,
        extra: Mapping[str, Any] | None = None,
        msg_bytes: bytes | None = None,
    ) -> None: ...


class _GiveUp(Exception):
    """The shutdown deadline passed while the transport could not take more."""


def _process_name() -> str:
    import multiprocessing

    return str(multiprocessing.current_process().name)


class WorkerLogger:
    """A logger for worker processes that ships records to a :class:`MasterLogger`.

    A log call stamps the time, thread and a per-worker ``seq`` and appends to
    a bounded in-process buffer; it never waits on I/O. A background thread
    turns the buffer into core :class:`~stalwart.core.Record` batches and
    sends one when ``max_batch`` records are waiting or ``flush_interval_s``
    passed, plus a heartbeat every ``heartbeat_interval_s``. When the buffer
    holds ``queue_limit`` records (the master is gone or slow), ``overflow``
    decides: ``"block"`` makes the caller wait for room, ``"drop_newest"``
    drops the record, counts it, and reports the count in the next message.

    Fork-safe: a child created by ``os.fork`` (or multiprocessing's ``fork``)
    starts with an empty buffer, a fresh ``seq`` and its own ZeroMQ context,
    socket and thread, created on its first log call. A multiprocessing child
    that logged and returns without calling :meth:`shutdown` still delivers:
    its exit runs a ``multiprocessing.util.Finalize`` that shuts the worker
    down (waiting at most 2 s), as ``atexit`` does for ordinary processes.

    Once :meth:`shutdown` begins, every log call (from any thread) is refused
    with :class:`WorkerClosedError` and counted in ``stats().refused``; the
    same happens after the sender thread failed (``stats().failure`` says why).

    Args:
        config: Shared options; ``config.path`` must name the master's
            endpoint (a real port for ``tcp://``).
        name: The worker's name, used as the records' ``logger`` and in the
            master's worker table.

    Raises:
        ConfigError: If ``name`` is empty or the ``tcp://`` port is 0.

    Example:
        >>> config = LoggerConfig(path="ipc:///run/app/log.sock")
        >>> worker = WorkerLogger(config, "fetcher")  # doctest: +SKIP
        >>> worker.info("fetched", extra={"url": url})  # doctest: +SKIP
        >>> worker.shutdown()  # doctest: +SKIP

    """

    def __init__(self, config: LoggerConfig, name: str) -> None:
        if not isinstance(name, str) or not name:
            raise ConfigError("name", name, "a worker needs a non-empty name")
        endpoint = config.endpoint
        if endpoint.scheme == "tcp" and endpoint.port == 0:
            raise ConfigError("path", config.path, "a worker must connect to the master's real port")
        self._config = config
        self._name = name
        self._min_level = int(config.base_level)
        self._limit = config.queue_limit
        self._max_batch = config.max_batch
        self._block = config.overflow == "block"
        self._closed = False
        self._reset_state()
        _track(self)

    # -- state ---------------------------------------------------------------------------------

    def _reset_state(self) -> None:
        """Give this process its own buffer, counters, events and (later) socket and thread."""
        self._lock = threading.Lock()
        self._buf: list[tuple[Any, ...]] = []
        self._seq = 0
        self._dropped = 0
        self._refused = 0
        # Not None once records must be refused: shutdown began, or the sender thread failed.
        # One attribute, read under the lock on every log call, keeps the hot path cheap.
        self._refuse_reason: str | None = _SHUT_DOWN if self._closed else None
        self._sent = 0
        self._sent_seq = 0
        self._acked_seq = 0
        self._wake = threading.Event()
        self._space = threading.Event()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._deadline = float("inf")
        self._handshake_ok = False
        self._ack: proto.Ack | None = None
        self._failure: BaseException | None = None
        self._pid = os.getpid()
        self._process = ""
        self._host = current_host()
        self._identity = f"{self._name[:120]}|{self._pid}|{uuid.uuid4().hex[:12]}".encode()

    def _after_fork_in_child(self) -> None:
        # The parent's buffered records are the parent's to send; the child starts clean.
        self._reset_state()

    def _start(self) -> None:
        import multiprocessing.util

        with self._lock:
            if self._refuse_reason is not None:
                self._refuse()
            if self._thread is not None:
                return
            self._process = _process_name()
            thread = threading.Thread(target=self._run, name=f"stalwart-ipc-worker-{self._name}", daemon=True)
            self._thread = thread
        if multiprocessing.parent_process() is not None:
            # A multiprocessing child ends with os._exit(): atexit never runs there, its
            # exit finalizers do. Registered here, in the process that will exit, because
            # multiprocessing clears the finalizer registry right after fork.
            multiprocessing.util.Finalize(
                None, _shutdown_at_exit, args=(weakref.ref(self),), exitpriority=_EXIT_PRIORITY
            )
        thread.start()

    def _refuse(self) -> None:
        """Count a refused record and raise; call with the lock held."""
        self._refused += 1
        raise WorkerClosedError(self._name, self._refuse_reason or _SHUT_DOWN)

    # -- the calling thread's side ---------------------------------------------------------------

    # The level methods are built by _level_method (one body, no extra call per record);
    # these stubs give type checkers their signatures.
    if TYPE_CHECKING:

        def trace(
            self, msg: str, *, extra: Mapping[str, Any] | None = None, msg_bytes: bytes | None = None
        ) -> None:
            """Log ``msg`` at TRACE (5); see :meth:`log`."""

        def debug(
            self, msg: str, *, extra: Mapping[str, Any] | None = None, msg_bytes: bytes | None = None
        ) -> None:
            """Log ``msg`` at DEBUG; see :meth:`log`."""

        def info(
            self, msg: str, *, extra: Mapping[str, Any] | None = None, msg_bytes: bytes | None = None
        ) -> None:
            """Log ``msg`` at INFO; see :meth:`log`."""

        def warning(
            self, msg: str, *, extra: Mapping[str, Any] | None = None, msg_bytes: bytes | None = None
        ) -> None:
            """Log ``msg`` at WARNING; see :meth:`log`."""

        def error(
            self, msg: str, *, extra: Mapping[str, Any] | None = None, msg_bytes: bytes | None = None
        ) -> None:
            """Log ``msg`` at ERROR; see :meth:`log`."""

        def critical(
            self, msg: str, *, extra: Mapping[str, Any] | None = None, msg_bytes: bytes | None = None
        ) -> None:
            """Log ``msg`` at CRITICAL; see :meth:`log`."""

    def log(
        self,
        level: int,
        msg: str,
        *,
        extra: Mapping[str, Any] | None = None,
        msg_bytes: bytes | None = None,
    ) -> None:
        """Queue one record for the master.

        Never waits on I/O; waits only with ``overflow="block"`` while the
        buffer is full.

        Args:
            level: Numeric level; below ``config.base_level`` the call does nothing.
            msg: The message (non-strings are converted with ``str``).
            extra: User fields, stored JSON-able (other values as ``repr``).
            msg_bytes: Binary payload, stored base64-encoded as ``extra["msg_bytes"]``.

        Raises:
            WorkerClosedError: If :meth:`shutdown` has begun (or finished), or
                the sender thread failed; the call is counted in ``stats().refused``.

        """
        _level_method(int(level), "")(self, msg, extra=extra, msg_bytes=msg_bytes)

    def _submit_logging(self, record: logging.LogRecord) -> None:
        """Queue a stdlib record (already formatted by :class:`IPCHandler`)."""
        if record.levelno < self._min_level:
            return
        if self._thread is None:
            self._start()
        with self._lock:
            if self._refuse_reason is not None:
                self._refuse()
            buf = self._buf
            size = len(buf)
            if size < self._limit:
                self._seq = seq = self._seq + 1
                buf.append((seq, record))
                if (size + 1) % self._max_batch == 0:
                    self._wake.set()
                return
        self._overflowed((record,))

    def _overflowed(self, item: tuple[Any, ...]) -> None:
        """Handle a full buffer: drop and count, or wait for the sender to make room."""
        if not self._block:
            with self._lock:
                if self._refuse_reason is not None:
                    self._refuse()
                self._dropped += 1
            return
        while True:
            with self._lock:
                if self._refuse_reason is not None:
                    self._refuse()
                buf = self._buf
                if len(buf) < self._limit:
                    self._seq = seq = self._seq + 1
                    buf.append((seq, *item))
                    return
                self._space.clear()
            self._wake.set()
            self._space.wait(_POLL_MS / 1000)

    # -- the sender thread -----------------------------------------------------------------------

    def _header(self) -> bytes:
        return proto.encode(
            proto.Header(
                name=self._name,
                pid=self._pid,
                host=self._host,
                process=self._process,
                interval_s=float(self._config.heartbeat_interval_s),
                last_seq=self._sent_seq,
                dropped=self._dropped,
            )
        )

    def _encode_chunk(self, chunk: list[tuple[Any, ...]]) -> bytes:
        """Encode buffered items as one ``encode_batch``-compatible payload, cheaply.

        The sender shares the GIL (and, on small machines, a core) with the
        logging threads, so its per-record Python work is what the callers
        pay for: plain records (no ``extra``, no ``msg_bytes``) become a
        positional :class:`_PlainRecord` with the thread's ident and name
        looked up once per thread per batch; the rest take the full
        :class:`~stalwart.core.Record` path.
        """
        name, pid, process, host = self._name, self._pid, self._process, self._host
        threads: dict[threading.Thread, tuple[int, str]] = {}
        records: list[_PlainRecord | Record] = []
        append = records.append
        for item in chunk:
            if len(item) == 7 and item[5] is None and item[6] is None:
                seq, ts, level, msg, thread, _, _ = item
                ident_name = threads.get(thread)
                if ident_name is None:
                    ident_name = threads[thread] = (thread.ident or 0, thread.name)
                append(_PlainRecord(ts, level, name, msg, pid, process, ident_name[0], ident_name[1], host, seq))
            else:
                append(self._to_record(item))
        try:
            return _PLAIN_ENCODER.encode(records)
        except _UNENCODABLE:
            # e.g. a lone surrogate in a message: encode_batch knows how to clean records up.
            return encode_batch([self._to_record(item) for item in chunk])

    def _to_record(self, item: tuple[Any, ...]) -> Record:
        if len(item) == 2:
            return Record.from_logging(item[1], seq=item[0])
        seq, ts, level, msg, thread, extra, msg_bytes = item
        if msg_bytes is not None:
            extra = dict(extra or {})
            extra["msg_bytes"] = base64.b64encode(msg_bytes).decode("ascii")
        return Record(
            ts_ns=ts,
            level=level,
            logger=self._name,
            message=msg,
            pid=self._pid,
            process=self._process,
            thread=thread.ident or 0,
            thread_name=thread.name,
            host=self._host,
            seq=seq,
            extra=extra or {},
        )

    def _send(self, sock: zmq.Socket[bytes], frames: list[bytes]) -> None:
        """Send without blocking forever: wait for room, give up only past the shutdown deadline."""
        while True:
            try:
                # copy=True: a batch is larger than zmq.COPY_THRESHOLD, and a zero-copy send
                # hands its buffer to pyzmq's garbage-collector thread, one more Python thread
                # taking the GIL from the logging threads per batch; a memcpy is far cheaper.
                sock.send_multipart(frames, flags=zmq.NOBLOCK)
                return
            except zmq.Again:
                if time.monotonic() > self._deadline:
                    raise _GiveUp from None
                sock.poll(_POLL_MS, zmq.POLLOUT)

    def _take(self) -> list[tuple[Any, ...]]:
        with self._lock:
            buf = self._buf
            if len(buf) <= self._max_batch:
                self._buf = []
                chunk = buf
            else:
                chunk = buf[: self._max_batch]
                del buf[: self._max_batch]
        self._space.set()
        return chunk

    def _flush(self, sock: zmq.Socket[bytes]) -> None:
        while True:
            chunk = self._take()
            if not chunk:
                return
            payload = self._encode_chunk(chunk)
            self._sent_seq = chunk[-1][0]
            self._send(sock, [proto.BATCH, self._header(), payload])
            self._sent += len(chunk)

    def _run(self) -> None:
        context: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        sock = context.socket(zmq.DEALER)
        try:
            sock.setsockopt(zmq.ROUTING_ID, self._identity)
            sock.setsockopt(zmq.SNDHWM, _SEND_HWM)
            sock.setsockopt(zmq.LINGER, 0)
            sock.connect(self._config.path)
            self._serve(sock)
        except _GiveUp:
            pass  # shutdown() reports the unacknowledged tail as ShutdownTimeoutError
        except BaseException as exc:  # noqa: BLE001 - kept, refused on the next log call, re-raised by shutdown()
            with self._lock:
                self._failure = exc
                if self._refuse_reason is None:
                    self._refuse_reason = f"its sender thread failed: {exc!r}"
        finally:
            sock.close(linger=0)
            context.term()
            self._space.set()

    def _serve(self, sock: zmq.Socket[bytes]) -> None:
        interval = float(self._config.heartbeat_interval_s)
        flush_interval = float(self._config.flush_interval_s)
        self._send(sock, [proto.HELLO, self._header()])
        next_heartbeat = time.monotonic() + interval
        while True:
            now = time.monotonic()
            self._wake.wait(max(0.0, min(flush_interval, next_heartbeat - now)))
            self._wake.clear()
            stopping = self._stopping
            self._flush(sock)
            now = time.monotonic()
            if now >= next_heartbeat:
                self._send(sock, [proto.HEARTBEAT, self._header()])
                next_heartbeat = now + interval
            if stopping:
                self._flush(sock)
                self._handshake(sock)
                return

    def _handshake(self, sock: zmq.Socket[bytes]) -> None:
        """Send BYE until the master acknowledges our last seq or the deadline passes."""
        while time.monotonic() < self._deadline:
            self._send(sock, [proto.BYE, self._header()])
            resend_at = min(self._deadline, time.monotonic() + _BYE_RESEND_S)
            while (remaining := resend_at - time.monotonic()) > 0:
                if not sock.poll(int(remaining * 1000) + 1, zmq.POLLIN):
                    continue
                frames = sock.recv_multipart()
                if len(frames) == 2 and frames[0] == proto.ACK:
                    ack = proto.decode_ack(frames[1])
                    self._ack = ack
                    self._acked_seq = ack.last_seq
                    self._handshake_ok = True
                    return

    # -- public control --------------------------------------------------------------------------

    @property
    def name(self) -> str:
        """The worker's name."""
        return self._name

    @property
    def config(self) -> LoggerConfig:
        """The options this worker was built with."""
        return self._config

    def stats(self) -> WorkerStats:
        """Return this worker's counters (see :class:`WorkerStats`)."""
        with self._lock:
            return WorkerStats(
                logged=self._seq,
                sent=self._sent,
                dropped=self._dropped,
                pending=len(self._buf),
                acked_seq=self._acked_seq,
                refused=self._refused,
                failure="" if self._failure is None else repr(self._failure),
            )

    def shutdown(self, timeout_s: float = _DEFAULT_SHUTDOWN_TIMEOUT_S) -> None:
        """Send everything buffered and wait until the master acknowledges the last ``seq``.

        From the moment it is called, log calls from any thread are refused
        with :class:`WorkerClosedError` (and counted in ``stats().refused``),
        so the final flush covers exactly the records accepted before it: it
        sends them up to the ``seq`` reached when shutdown began, then does
        the BYE/ACK handshake. Calling it again does nothing.

        Args:
            timeout_s: How long to wait for the transport and the master.

        Raises:
            ShutdownTimeoutError: If the master did not acknowledge in time
                (it is absent, or too slow); the error says how many records
                never left this process.
            DeliveryError: If the master acknowledged, but reports records of
                this worker lost, received every record only up to a lower
                ``seq`` than was sent, or never saw the start of the sequence
                (it restarted after records were sent to an earlier instance).
            IPCLoggerError: If the sender thread failed.

        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._refuse_reason = _SHUT_DOWN
            final_seq = self._seq
            thread = self._thread
        _untrack(self)
        if thread is None:
            return  # nothing was ever logged in this process: nothing to flush or acknowledge
        self._deadline = time.monotonic() + timeout_s
        self._stopping = True
        self._wake.set()
        thread.join(timeout_s + 1.0)
        self._thread = None
        failure = self._failure
        if failure is not None:
            raise IPCLoggerError(f"worker {self._name!r} sender failed: {failure!r}") from failure
        ack = self._ack
        if not self._handshake_ok or ack is None:
            raise ShutdownTimeoutError(self._config.path, final_seq, final_seq - self._sent, timeout_s)
        unconfirmed = max(0, min(ack.first_seq, self._sent_seq + 1) - 1)
        if ack.lost > 0 or ack.last_seq < self._sent_seq or unconfirmed > 0:
            raise DeliveryError(
                self._config.path,
                self._name,
                sent_seq=self._sent_seq,
                acked_seq=ack.last_seq,
                lost=ack.lost,
                unconfirmed=unconfirmed,
            )

    def __enter__(self) -> WorkerLogger:
        """Return the worker; leaving the block calls :meth:`shutdown`."""
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Shut the worker down (see :meth:`shutdown`)."""
        self.shutdown()

    def __repr__(self) -> str:
        """Show name, path and pid."""
        return f"WorkerLogger(name={self._name!r}, path={self._config.path!r}, pid={self._pid})"


# Bounded: log() accepts any int level.
@functools.lru_cache(maxsize=256)
def _level_method(level: int, level_name: str) -> _LogMethod:
    """Build the log method for ``level``: the whole hot path in one Python frame.

    A log call's cost is mostly interpreter overhead, so the body is written
    once here and each level method *is* this function (no call into a
    shared ``_log``); the lock is taken with ``acquire``/``release``, which
    costs about half of a ``with`` block.
    """

    def method(
        self: WorkerLogger, msg: Any, *, extra: Mapping[str, Any] | None = None, msg_bytes: bytes | None = None
    ) -> None:
        if level < self._min_level:
            return
        if self._thread is None:
            self._start()
        if type(msg) is not str:
            msg = str(msg)
        if extra is not None:
            # Converted now: the caller may mutate its dict after the call returns.
            extra = to_jsonable(extra)
        if msg_bytes is not None:
            msg_bytes = bytes(msg_bytes)
        ts = _time_ns()
        thread = _current_thread()
        lock = self._lock
        lock.acquire()
        try:
            if self._refuse_reason is not None:
                self._refuse()
            buf = self._buf
            size = len(buf)
            if size < self._limit:
                self._seq = seq = self._seq + 1
                buf.append((seq, ts, level, msg, thread, extra, msg_bytes))
                if (size + 1) % self._max_batch == 0:
                    self._wake.set()
                return
        finally:
            lock.release()
        self._overflowed((ts, level, msg, thread, extra, msg_bytes))

    if level_name:
        method.__name__ = method.__qualname__ = level_name.lower()
        method.__doc__ = f"Log ``msg`` at {level_name}; see :meth:`log`."
    return method


if not TYPE_CHECKING:
    for _level in (Level.TRACE, Level.DEBUG, Level.INFO, Level.WARNING, Level.ERROR, Level.CRITICAL):
        setattr(WorkerLogger, _level.name.lower(), _level_method(int(_level), _level.name))
    del _level


# -- process-wide bookkeeping: the exit hook ----------------------------------------

# Workers nobody shut down, for the interpreter-exit flush.
_live: weakref.WeakSet[WorkerLogger] = weakref.WeakSet()
_atexit_installed = False


def _track(worker: WorkerLogger) -> None:
    global _atexit_installed
    reset_after_fork(worker)
    _live.add(worker)
    if not _atexit_installed:
        _atexit_installed = True
        atexit.register(_shutdown_live_workers)


def _untrack(worker: WorkerLogger) -> None:
    _live.discard(worker)


def _shutdown_quietly(worker: WorkerLogger) -> None:
    """Shut ``worker`` down at process exit, where raising helps nobody: warn instead."""
    try:
        worker.shutdown(timeout_s=_EXIT_SHUTDOWN_TIMEOUT_S)
    except IPCLoggerError as exc:
        warnings.warn(f"stalwart.ipc_logger: {exc}", RuntimeWarning, stacklevel=1)


def _shutdown_live_workers() -> None:
    """At interpreter exit, give workers nobody shut down a short chance to deliver their tail."""
    for worker in list(_live):
        _shutdown_quietly(worker)


def _shutdown_at_exit(ref: weakref.ref[WorkerLogger]) -> None:
    """At a multiprocessing child's exit, deliver the tail of a worker the child never shut down."""
    worker = ref()
    if worker is not None:
        _shutdown_quietly(worker)
