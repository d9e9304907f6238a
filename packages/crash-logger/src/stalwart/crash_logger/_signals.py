"""Log termination signals by name, then let the program's prior handling proceed."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

from stalwart.crash_logger._events import SIGNAL_RECEIVED

__all__ = ["SIGNAL_REASONS", "SignalLogger"]

#: The signals watched (where the platform has them) and why they usually arrive.
SIGNAL_REASONS = {
    "SIGINT": "interrupt from the keyboard (Ctrl+C)",
    "SIGTERM": "termination requested (kill, service manager, container stop)",
    "SIGHUP": "hangup: the controlling terminal closed or its session ended",
}

_Handler = Callable[[int, FrameType | None], Any] | int | signal.Handlers | None
LogFunction = Callable[[str], None]


class SignalLogger:
    """Install handlers that log a signal, then do what was done before.

    The prior handler is called if it was a Python function (so SIGINT still
    raises ``KeyboardInterrupt``); an ignored signal stays ignored; a signal
    whose prior action was the default is re-delivered with the default
    action, so the process ends exactly as it would have without us.

    Only the installing process logs: a forked child gets the prior handlers
    back (:meth:`restore_after_fork`), and a handler that still runs in
    another process passes the signal on without logging it.

    Args:
        log: Called with the message to log, from the main thread, inside the handler.
    """

    def __init__(self, log: LogFunction) -> None:
        """Prepare, without installing anything yet."""
        self._log = log
        self._previous: dict[int, _Handler] = {}
        self._pid = os.getpid()

    def install(self) -> list[str]:
        """Install the handlers; return the names of the signals now watched.

        Nothing is installed outside the main thread (Python forbids it) or for
        a signal whose current handler was set from C (it could not be restored).
        """
        if threading.current_thread() is not threading.main_thread():
            return []
        self._pid = os.getpid()
        names = []
        for name in SIGNAL_REASONS:
            number = getattr(signal, name, None)
            if number is None:
                continue
            previous = signal.getsignal(number)
            if previous is None:
                continue
            signal.signal(number, self._handle)
            self._previous[number] = previous
            names.append(name)
        return names

    def restore(self) -> None:
        """Put back the prior handlers where ours is still the one installed."""
        if threading.current_thread() is not threading.main_thread():
            return
        for number, previous in self._previous.items():
            if signal.getsignal(number) == self._handle and previous is not None:
                signal.signal(number, previous)
        self._previous.clear()

    def restore_after_fork(self) -> None:
        """In a forked child: put back the prior handlers, so the child's signals are not logged.

        A child's ``SIGTERM`` (``Process.terminate()``) is the child's business, not the
        logged run's; logging it into the parent's file made the run look signalled.
        """
        self.restore()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        previous = self._previous.get(signum, signal.SIG_DFL)
        if os.getpid() != self._pid:
            # Inherited by a child whose at-fork restore could not run (forked off the main
            # thread): behave exactly as the prior handling, silently.
            self._pass_on(signum, frame, previous)
            return
        name = signal.Signals(signum).name
        if previous == signal.SIG_IGN:
            action = "ignored, as before"
        elif callable(previous):
            action = f"passing it to the prior handler {getattr(previous, '__name__', previous)!s}"
        else:
            action = "terminating by the default action"
        self._log(f"{SIGNAL_RECEIVED} {name} ({SIGNAL_REASONS.get(name, 'signal')}); {action}")
        self._pass_on(signum, frame, previous)

    @staticmethod
    def _pass_on(signum: int, frame: FrameType | None, previous: _Handler) -> None:
        if previous == signal.SIG_IGN:
            return
        if callable(previous):
            previous(signum, frame)
            return
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
