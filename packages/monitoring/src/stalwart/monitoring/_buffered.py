"""A buffering handler that forwards on capacity, severity or time."""

from __future__ import annotations

import logging
import logging.handlers
import math
import os
import threading

from stalwart.core import reset_after_fork
from stalwart.monitoring._errors import MonitoringConfigError
from stalwart.monitoring._fields import to_level
from stalwart.monitoring._guard import GuardedHandler

__all__ = ["BufferedHandler"]

# How often the timer thread, waiting for the handler lock, checks whether close() wants it to stop.
_LOCK_POLL_SECONDS = 0.05


class BufferedHandler(GuardedHandler, logging.handlers.MemoryHandler):
    """Hold records and forward them to ``target`` in bursts.

    The buffer is forwarded when it holds ``capacity`` records, when a record
    at ``flush_level`` or above arrives (that record included, so an error
    arrives with the context that led to it), every ``flush_interval``
    seconds (a timer thread, started with the first record, restarted in a
    forked child), and at close. In ``dictConfig`` give ``target`` as the
    name of another handler, as for :class:`logging.handlers.MemoryHandler`.
    Without a target a full buffer (and at close, whatever is left) is
    discarded and counted in :attr:`dropped`, as is what is left at close
    with ``flush_on_close=False``.
    A forked child starts with an empty buffer: records buffered before the
    fork are forwarded by the parent only, never twice.

    Each record is forwarded once: the buffer is taken whole before
    forwarding starts. If the target raises on a record, that record is
    reported through :meth:`handleError` (printed once per cause, counted in
    :attr:`error_count`) and not forwarded again; the records after it still
    are, and the timer keeps running. What the target logs while a flush
    runs (a library it calls) is not taken back into this buffer: it is
    dropped and counted in :attr:`reentrant_dropped`, as for any handler
    that would re-enter itself.

    Args:
        capacity: Records held before forwarding.
        flush_level: Level (number or name) that forwards immediately.
        flush_interval: Seconds between timed forwards; ``None`` disables the timer.
        target: The handler records go to.
        flush_on_close: Forward what is left when closed.
        level: This handler's level.

    Raises:
        MonitoringConfigError: On a capacity that is no integer >= 1, an interval that is
            no finite number > 0, or an unknown level.
    """

    def __init__(
        self,
        capacity: int = 1000,
        flush_level: int | str = logging.ERROR,
        flush_interval: float | None = 5.0,
        target: logging.Handler | None = None,
        flush_on_close: bool = True,
        level: int | str = logging.NOTSET,
    ) -> None:
        # dictConfig passes values as written: "10" must fail here, by name, not as a TypeError later.
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
            raise MonitoringConfigError("capacity", capacity, ["an integer >= 1"])
        if flush_interval is not None and (
            isinstance(flush_interval, bool)
            or not isinstance(flush_interval, (int, float))
            or not 0 < flush_interval < math.inf
        ):
            raise MonitoringConfigError("flush_interval", flush_interval, ["None", "seconds > 0"])
        logging.handlers.MemoryHandler.__init__(
            self, capacity, to_level(flush_level, key="flush_level"), target, flush_on_close
        )
        self.setLevel(to_level(level))
        self.flush_interval = flush_interval
        self.dropped = 0
        self._stop = threading.Event()
        self._timer: threading.Thread | None = None
        self._timer_pid = 0
        reset_after_fork(self)

    def _after_fork_in_child(self) -> None:
        # The buffered records are the parent's: the parent forwards them, a child forwarding them
        # too would log them twice. Locks and the timer are the parent's too (the timer thread
        # does not exist here); the child starts its own timer with its first record.
        self.buffer = []
        self.createLock()
        stopped = self._stop.is_set()
        self._stop = threading.Event()
        if stopped:
            self._stop.set()
        self._timer = None
        self._timer_pid = 0

    def emit(self, record: logging.LogRecord) -> None:
        """Buffer ``record``; forward the buffer if it is full or ``record`` is severe."""
        if self._stop.is_set():  # closed: nothing would ever forward it
            self.dropped += 1
            return
        if self.flush_interval is not None and (self._timer is None or self._timer_pid != os.getpid()):
            self._start_timer()
        super().emit(record)

    def flush(self) -> None:
        """Forward every buffered record to the target now.

        A record the target raises on goes to :meth:`handleError` and is not
        forwarded again; the rest still are.
        """
        with self.lock:  # type: ignore[union-attr]  # createLock always sets it
            target = self.target
            if target is None:
                if len(self.buffer) >= self.capacity:
                    self.dropped += len(self.buffer)
                    self.buffer.clear()
                return
            # Taken whole first: stdlib loops over self.buffer while forwarding, so a record appended
            # meanwhile was forwarded in this loop and again by a nested flush from index 0.
            batch, self.buffer = self.buffer, []
            # A flush on the timer thread (or a plain handler.flush()) is not inside handle(): mark it,
            # so what the target logs is dropped and counted rather than buffered behind our back.
            entered = self._enter()
            started = 0
            try:
                for record in batch:
                    started += 1
                    try:
                        target.handle(record)
                    except Exception:  # noqa: BLE001 - one failing record must not lose or resend the others
                        self.handleError(record)
            finally:
                if entered:
                    self._leave()
                if started < len(batch):  # interrupted (KeyboardInterrupt): the rest wait for the next flush
                    self.buffer[:0] = batch[started:]

    def _start_timer(self) -> None:
        if self._stop.is_set():
            return
        timer = threading.Thread(target=self._tick, name="stalwart-buffer-flush", daemon=True)
        timer.start()
        # Published once started: close() reads it without the lock, and joining a thread not yet
        # started raises RuntimeError.
        self._timer_pid = os.getpid()
        self._timer = timer

    def _tick(self) -> None:
        assert self.flush_interval is not None
        while not self._stop.wait(self.flush_interval):
            lock = self.lock
            assert lock is not None  # createLock always sets it
            # Not a plain blocking acquire: logging.shutdown() and dictConfig call close() while holding
            # this lock, and close() waits for this thread to end.
            while not lock.acquire(timeout=_LOCK_POLL_SECONDS):
                if self._stop.is_set():
                    return
            try:
                if self._stop.is_set():  # closing: close() forwards what is left
                    return
                self.flush()
            finally:
                lock.release()

    def close(self) -> None:
        """Stop the timer, forward what is left (if ``flush_on_close``) and close."""
        self._stop.set()
        timer = self._timer
        if timer is not None and timer is not threading.current_thread() and self._timer_pid == os.getpid():
            timer.join(30.0)
        with self.lock:  # type: ignore[union-attr]  # createLock always sets it
            if self.target is None or not self.flushOnClose:
                # Nowhere to go (or not to be forwarded): these records end here, counted.
                self.dropped += len(self.buffer)
                self.buffer.clear()
        super().close()
