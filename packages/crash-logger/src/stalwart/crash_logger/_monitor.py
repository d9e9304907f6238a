"""Background liveness threads: the heartbeat and the hang watchdog."""

from __future__ import annotations

import sys
import threading
import time
import traceback
from collections.abc import Callable
from types import FrameType

from stalwart.crash_logger._events import HANG

__all__ = ["HangWatchdog", "Heartbeat", "all_thread_tracebacks"]


class Heartbeat(threading.Thread):
    """Call ``beat(uptime_seconds)`` every ``interval`` seconds until stopped.

    Args:
        interval: Seconds between beats.
        beat: Called with the seconds since the heartbeat started.
    """

    def __init__(self, interval: float, beat: Callable[[float], None]) -> None:
        """Prepare a daemon thread; it never delays interpreter exit."""
        super().__init__(name="stalwart-heartbeat", daemon=True)
        self._interval = interval
        self._beat = beat
        self._stop_event = threading.Event()
        self._started_at = time.monotonic()

    def run(self) -> None:
        """Beat until :meth:`stop`."""
        while not self._stop_event.wait(self._interval):
            self._beat(time.monotonic() - self._started_at)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop beating and wait up to ``timeout`` seconds for the thread to end."""
        self._stop_event.set()
        if self.is_alive() and self is not threading.current_thread():
            self.join(timeout)


def _stack_signature(frame: FrameType | None) -> tuple[tuple[int, int], ...]:
    signature = []
    while frame is not None:
        signature.append((id(frame.f_code), frame.f_lineno))
        frame = frame.f_back
    return tuple(signature)


def all_thread_tracebacks() -> str:
    """Return the current Python stack of every thread, main thread first."""
    names = {thread.ident: thread.name for thread in threading.enumerate()}
    main_ident = threading.main_thread().ident
    frames = sys._current_frames()
    order = sorted(frames, key=lambda ident: (ident != main_ident, names.get(ident, "")))
    parts = []
    for ident in order:
        parts.append(f'Thread "{names.get(ident, "?")}" (ident {ident}), most recent call last:\n')
        parts.extend(traceback.format_stack(frames[ident]))
    return "".join(parts)


class HangWatchdog(threading.Thread):
    """Report when the main thread's Python stack stays the same for ``timeout`` seconds.

    "No progress" means the same functions at the same lines: a main thread
    blocked in a call (a lock, a socket, a long C routine) or spinning on one
    line. One report per hang; it re-arms once the stack changes.

    Args:
        timeout: Seconds without progress before reporting.
        report: Called with the report text (all threads' tracebacks).
    """

    def __init__(self, timeout: float, report: Callable[[str], None]) -> None:
        """Prepare a daemon thread watching the interpreter's main thread."""
        super().__init__(name="stalwart-hang-watchdog", daemon=True)
        self._timeout = timeout
        self._report = report
        self._stop_event = threading.Event()
        self._main_ident = threading.main_thread().ident

    def run(self) -> None:
        """Sample the main thread's stack until :meth:`stop`."""
        poll = min(1.0, self._timeout / 4)
        last_signature: tuple[tuple[int, int], ...] = ()
        unchanged_since = time.monotonic()
        reported = False
        while not self._stop_event.wait(poll):
            main_ident = self._main_ident
            frame = sys._current_frames().get(main_ident) if main_ident is not None else None
            signature = _stack_signature(frame)
            del frame
            now = time.monotonic()
            if signature != last_signature:
                last_signature, unchanged_since, reported = signature, now, False
                continue
            stalled = now - unchanged_since
            if not reported and stalled >= self._timeout:
                reported = True
                self._report(
                    f"{HANG}: main thread made no progress for {stalled:.1f} s "
                    f"(hang_timeout={self._timeout:g}); tracebacks of all threads follow\n"
                    + all_thread_tracebacks().rstrip()
                )

    def stop(self, timeout: float = 5.0) -> None:
        """Stop watching and wait up to ``timeout`` seconds for the thread to end."""
        self._stop_event.set()
        if self.is_alive() and self is not threading.current_thread():
            self.join(timeout)
