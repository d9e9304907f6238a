"""One run's crash-safe logging: the log file, the writer process and the hooks that feed it."""

from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import faulthandler
import logging
import os
import select
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path
from types import TracebackType

from stalwart.core import Kind
from stalwart.crash_logger._errors import CrashLoggerError, WriterStartError
from stalwart.crash_logger._events import (
    CLEAN_SHUTDOWN,
    KIND_ATTRIBUTE,
    LIFECYCLE_LOGGER,
    STARTED,
    UNCAUGHT,
)
from stalwart.crash_logger._handler import PipeHandler
from stalwart.crash_logger._monitor import HangWatchdog, Heartbeat
from stalwart.crash_logger._paths import create_log_file, validate_prefix
from stalwart.crash_logger._protocol import shutdown_frame
from stalwart.crash_logger._signals import SignalLogger
from stalwart.crash_logger._sysinfo import system_info_lines

__all__ = ["CrashLogger", "active_crash_logger", "setup_logging"]

_WRITER_MODULE = "stalwart.crash_logger._writer"
_WRITER_EXIT_TIMEOUT = 10.0

_state_lock = threading.RLock()
_active: CrashLogger | None = None
_fork_hook_registered = False

_ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


def active_crash_logger() -> CrashLogger | None:
    """Return the crash logger this process set up and has not cleaned up, if any."""
    current = _active
    if current is not None and not current.closed and current.pid == os.getpid():
        return current
    return None


class CrashLogger:
    """The running crash-safe logging of one process; made by :func:`setup_logging`.

    Attributes:
        log_file: Path of this run's log file.
        writer_pid: Process id of the separate writer process.
        pid: Process id of the process being logged.
    """

    def __init__(
        self,
        *,
        log_file: Path,
        handler: PipeHandler,
        writer: subprocess.Popen[bytes],
        fault_fd: int | None,
    ) -> None:
        """Wrap an already started writer; use :func:`setup_logging` instead."""
        self.log_file = log_file
        self.writer_pid = writer.pid
        self.pid = os.getpid()
        self._handler = handler
        self._writer = writer
        self._fault_fd = fault_fd
        self._started = time.monotonic()
        self._closed = False
        # Set once the handler is closed: late lines (a straggling thread) are not written.
        self._finished = False
        self._exit_code: int | None = None
        self._lifecycle = logging.getLogger(LIFECYCLE_LOGGER)
        self._signals = SignalLogger(lambda message: self.log_event(logging.CRITICAL, message))
        self._threads: list[Heartbeat | HangWatchdog] = []
        self._root_level: tuple[int, int] | None = None
        self._faulthandler_was_enabled = False
        self._faulthandler_installed = False
        self._previous_excepthook = sys.excepthook
        self._previous_thread_excepthook = threading.excepthook

    @property
    def closed(self) -> bool:
        """Whether :meth:`cleanup` has run."""
        return self._closed

    def log_event(
        self,
        level: int,
        message: str,
        *args: object,
        exc_info: _ExcInfo | BaseException | None = None,
        kind: Kind = "event",
    ) -> None:
        """Write a lifecycle line, whatever the configured ``log_level`` and filters.

        Args:
            level: Numeric level.
            message: ``%``-style template.
            *args: Template arguments.
            exc_info: Exception to attach, with its traceback.
            kind: The core record kind (``"event"`` or ``"heartbeat"``).
        """
        if self._finished:
            return
        if isinstance(exc_info, BaseException):
            exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
        record = self._lifecycle.makeRecord(
            LIFECYCLE_LOGGER, level, "", 0, message, args, exc_info, extra={KIND_ATTRIBUTE: kind}
        )
        self._handler.emit_always(record)

    def note_exit_code(self, code: int | None) -> None:
        """Remember the exit code the process is about to end with, for the exit line."""
        self._exit_code = code

    # -- starting ------------------------------------------------------------------------------

    def _start(
        self,
        *,
        log_level: int,
        heartbeat_interval: float,
        hang_timeout: float | None,
        handle_signals: bool,
        native_tracebacks: bool,
        log_system_info: bool,
        fsync_every: int | None,
    ) -> None:
        # The first line names the writer, so even a setup that fails below leaves a usable trace.
        self.log_event(
            logging.INFO,
            "%s: pid %d, log file %s, writer pid %d, heartbeat every %s s, hang_timeout %s, fsync_every %s",
            STARTED,
            self.pid,
            self.log_file,
            self.writer_pid,
            heartbeat_interval or "off",
            hang_timeout,
            fsync_every,
        )
        root = logging.getLogger()
        self._handler.setLevel(log_level)
        root.addHandler(self._handler)
        self._root_level = (root.level, log_level)
        root.setLevel(log_level)
        watched = self._signals.install() if handle_signals else []
        if native_tracebacks and self._fault_fd is not None:
            self._faulthandler_was_enabled = faulthandler.is_enabled()
            faulthandler.enable(file=self._fault_fd, all_threads=True)
            self._faulthandler_installed = True
        sys.excepthook = self._excepthook
        threading.excepthook = self._thread_excepthook
        atexit.register(self._at_exit)
        self.log_event(
            logging.INFO,
            "Watching: signals %s; native tracebacks %s; uncaught exceptions; interpreter exit",
            ", ".join(watched) or "none",
            "on" if native_tracebacks else "off",
        )
        if log_system_info:
            for line in system_info_lines():
                self.log_event(logging.INFO, "System: %s", line)
        if heartbeat_interval > 0:
            self._threads.append(Heartbeat(heartbeat_interval, self._beat))
        if hang_timeout is not None:
            self._threads.append(HangWatchdog(hang_timeout, self._report_hang))
        for thread in self._threads:
            thread.start()

    def _beat(self, uptime: float) -> None:
        self.log_event(logging.INFO, "Heartbeat: alive, uptime %.1f s", uptime, kind="heartbeat")

    def _report_hang(self, text: str) -> None:
        self.log_event(logging.ERROR, "%s", text)

    # -- hooks ---------------------------------------------------------------------------------

    def _excepthook(
        self, exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
    ) -> None:
        if active_crash_logger() is self:
            self._exit_code = 130 if issubclass(exc_type, KeyboardInterrupt) else 1
            self.log_event(
                logging.CRITICAL, "%s: %s: %s", UNCAUGHT, exc_type.__name__, exc, exc_info=(exc_type, exc, tb)
            )
        self._previous_excepthook(exc_type, exc, tb)

    def _thread_excepthook(self, args: threading.ExceptHookArgs) -> None:
        if active_crash_logger() is self and args.exc_value is not None:
            name = args.thread.name if args.thread is not None else "?"
            self.log_event(
                logging.ERROR,
                "Uncaught exception in thread %s: %s: %s",
                name,
                args.exc_type.__name__,
                args.exc_value,
                exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
            )
        self._previous_thread_excepthook(args)

    def _at_exit(self) -> None:
        if active_crash_logger() is not self:
            return
        if self._exit_code is None:
            code = "0 unless sys.exit() was given another (not visible to atexit)"
        else:
            code = str(self._exit_code)
        self.cleanup(f"normal interpreter exit (atexit), exit code {code}")

    def _after_fork_in_child(self) -> None:
        # The child must not hold the pipe: the writer's end of file must mean the logged
        # process is gone. Its records go straight to the same file instead.
        self._handler.reset_after_fork()
        pipe = self._handler.detach_pipe()
        for fd in (pipe, self._fault_fd):
            if fd is not None:
                _close_fd(fd)
        self._fault_fd = None
        self._threads = []
        self._signals.restore_after_fork()
        if self._faulthandler_installed:
            try:
                faulthandler.enable(file=self._handler.open_direct(), all_threads=True)
            except OSError:
                faulthandler.disable()

    # -- stopping ------------------------------------------------------------------------------

    def cleanup(self, reason: str = "cleanup() called") -> None:
        """Log a clean shutdown, stop the writer after it wrote everything, and undo every hook.

        Safe to call more than once and from ``finally`` blocks. In a forked
        child it only detaches the logging there: the writer belongs to the parent.

        Args:
            reason: Why logging stops, written into the shutdown line.
        """
        global _active
        with _state_lock:
            if self._closed:
                return
            self._closed = True
            if _active is self:
                _active = None
        owner = self.pid == os.getpid()
        for thread in self._threads:
            thread.stop()
        if owner:
            self.log_event(
                logging.INFO, "%s: %s; ran %.3f s", CLEAN_SHUTDOWN, reason, time.monotonic() - self._started
            )
        self._unhook(owner)
        pipe = self._handler.detach_pipe()
        if pipe is not None:
            # If the writer already died, the handler switched to direct writes and said so.
            with contextlib.suppress(BrokenPipeError):
                os.write(pipe, shutdown_frame(reason))
            _close_fd(pipe)
        self._finished = True
        self._handler.close()
        if owner:
            self._stop_writer()

    def _unhook(self, owner: bool) -> None:
        root = logging.getLogger()
        root.removeHandler(self._handler)
        if self._root_level is not None and root.level == self._root_level[1]:
            root.setLevel(self._root_level[0])
        if owner:
            self._signals.restore()
        if sys.excepthook == self._excepthook:
            sys.excepthook = self._previous_excepthook
        if threading.excepthook == self._thread_excepthook:
            threading.excepthook = self._previous_thread_excepthook
        atexit.unregister(self._at_exit)
        if self._faulthandler_installed:
            _restore_faulthandler(self._faulthandler_was_enabled)
        if self._fault_fd is not None:
            _close_fd(self._fault_fd)
            self._fault_fd = None

    def _stop_writer(self) -> None:
        try:
            self._writer.wait(_WRITER_EXIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            self._writer.kill()
            self._writer.wait()
            warnings.warn(
                f"crash-logger writer pid {self.writer_pid} did not finish {self.log_file} within "
                f"{_WRITER_EXIT_TIMEOUT:g} s and was killed",
                RuntimeWarning,
                stacklevel=3,
            )

    def __repr__(self) -> str:
        """Show the file, the writer and whether it is still running."""
        state = "closed" if self._closed else "running"
        return f"<CrashLogger {state} file={str(self.log_file)!r} writer_pid={self.writer_pid}>"


def _close_fd(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        # Already closed by an at-fork hook or a failed start; nothing to release.
        return


def _restore_faulthandler(was_enabled: bool) -> None:
    if not was_enabled:
        faulthandler.disable()
        return
    # The earlier target is not observable; stderr is faulthandler's own default.
    try:
        faulthandler.enable(file=sys.__stderr__ or sys.stderr)
    except (AttributeError, OSError, ValueError):
        faulthandler.disable()


def _after_fork_in_child() -> None:
    current = _active
    if current is not None and not current.closed:
        current._after_fork_in_child()


def _writer_environment() -> dict[str, str]:
    """Return the parent's environment with the source roots of our packages first on PYTHONPATH."""
    import stalwart.core
    import stalwart.crash_logger

    roots = []
    for module in (stalwart.crash_logger, stalwart.core):
        if module.__file__:
            root = str(Path(module.__file__).resolve().parents[2])
            if root not in roots:
                roots.append(root)
    env = dict(os.environ)
    if env.get("PYTHONPATH"):
        roots.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(roots)
    return env


def _start_writer(
    log_fd: int, log_file: Path, fsync_every: int | None, native_tracebacks: bool, timeout: float
) -> tuple[subprocess.Popen[bytes], int, int | None]:
    """Start the writer; return it with the write ends of the record and fault pipes."""
    if not sys.executable:
        raise WriterStartError("sys.executable is empty: cannot start the log-writer process")
    data_read, data_write = os.pipe()
    fault_read, fault_write = os.pipe() if native_tracebacks else (None, None)
    ready_read, ready_write = os.pipe()
    passed = [data_read, log_fd, ready_write] + ([fault_read] if fault_read is not None else [])
    command = [
        sys.executable,
        "-m",
        _WRITER_MODULE,
        f"--data-fd={data_read}",
        f"--log-fd={log_fd}",
        f"--ready-fd={ready_write}",
        f"--pid={os.getpid()}",
    ]
    if fault_read is not None:
        command.append(f"--fault-fd={fault_read}")
    if fsync_every is not None:
        command.append(f"--fsync-every={fsync_every}")
    try:
        # A new session: Ctrl+C and terminal hangups reach the program, not the writer,
        # which must live long enough to record how the program ended.
        writer = subprocess.Popen(
            command,
            pass_fds=passed,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            env=_writer_environment(),
            start_new_session=True,
        )
    except OSError as exc:
        for fd in (data_write, fault_write, ready_read):
            if fd is not None:
                _close_fd(fd)
        raise WriterStartError(f"cannot start the log writer for {log_file}: {exc}") from exc
    finally:
        # Only the writer may hold these ends; a copy here would hide its end of file.
        for fd in passed:
            _close_fd(fd)
    try:
        _wait_ready(writer, ready_read, log_file, timeout)
    except BaseException:
        for fd in (data_write, fault_write):
            if fd is not None:
                _close_fd(fd)
        writer.kill()
        writer.wait()
        raise
    finally:
        _close_fd(ready_read)
    return writer, data_write, fault_write


def _wait_ready(writer: subprocess.Popen[bytes], ready_fd: int, log_file: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while (remaining := deadline - time.monotonic()) > 0:
        readable, _, _ = select.select([ready_fd], [], [], remaining)
        if readable:
            if os.read(ready_fd, 1) == b"R":
                return
            code = writer.wait()
            raise WriterStartError(
                f"the log writer for {log_file} exited with code {code} before it was ready "
                "(its error is on stderr)"
            )
    raise WriterStartError(f"the log writer for {log_file} was not ready within {timeout:g} s")


def setup_logging(
    log_file_prefix: str = "execution",
    heartbeat_interval: float = 10.0,
    log_level: int = logging.DEBUG,
    log_system_info: bool = True,
    log_dir: str | os.PathLike[str] = "logs",
    *,
    fsync_every: int | None = None,
    hang_timeout: float | None = None,
    handle_signals: bool = True,
    native_tracebacks: bool = True,
    writer_start_timeout: float = 30.0,
) -> tuple[logging.Logger, CrashLogger]:
    """Start crash-safe logging for this process into ``log_dir/YYYY-MM-DD/prefix_HH-MM-SS.log``.

    A separate writer process is started and the root logger gets a handler
    that writes each record into the writer's pipe before the call returns, so
    ``logging.getLogger(anything).info(...)`` lands in the file even if the
    process is killed the next instant. Signals, ``atexit``, uncaught
    exceptions and native crashes are recorded; a heartbeat line is written
    every ``heartbeat_interval`` seconds.

    Args:
        log_file_prefix: File name prefix.
        heartbeat_interval: Seconds between heartbeat lines; 0 turns them off.
        log_level: Minimum level of your records (the root logger is set to it).
            The logger's own lifecycle lines are written whatever the level.
        log_system_info: Write Python, platform, pids, cwd, argv and memory at start.
        log_dir: Root directory of the logs tree.
        fsync_every: ``fsync`` the file after at least this many records (1 = each record)
            for power-loss safety; ``None`` relies on the OS (survives process crashes).
        hang_timeout: If set, dump all threads' tracebacks into the log when the main
            thread makes no progress for this many seconds.
        handle_signals: Log SIGINT, SIGTERM and SIGHUP (needs the main thread).
        native_tracebacks: Route ``faulthandler`` output (segfaults, aborts) into the log.
        writer_start_timeout: Seconds to wait for the writer process to start.

    Returns:
        The logger named ``log_file_prefix`` and the :class:`CrashLogger`; call
        :meth:`CrashLogger.cleanup` when done (``atexit`` does it otherwise).

    Raises:
        LogDirError: If the log directory or file cannot be created; raised before
            anything else is set up.
        WriterStartError: If the writer process cannot be started.
        CrashLoggerError: On a bad option, or if this process already runs crash-safe logging.
    """
    global _active, _fork_hook_registered
    validate_prefix(log_file_prefix)
    if heartbeat_interval < 0:
        raise CrashLoggerError(f"heartbeat_interval must be >= 0, got {heartbeat_interval!r}")
    if hang_timeout is not None and hang_timeout <= 0:
        raise CrashLoggerError(f"hang_timeout must be > 0 or None, got {hang_timeout!r}")
    if fsync_every is not None and fsync_every < 1:
        raise CrashLoggerError(f"fsync_every must be >= 1 or None, got {fsync_every!r}")
    with _state_lock:
        current = _active
        if current is not None and not current.closed:
            if current.pid == os.getpid():
                raise CrashLoggerError(
                    f"crash-safe logging already runs in this process (file {current.log_file}); "
                    "call cleanup() on it first"
                )
            # Inherited through fork: stop the parent's logger here before starting ours.
            current.cleanup("forked child starts its own crash-safe log")
        log_file, log_fd = create_log_file(log_dir, log_file_prefix, dt.datetime.now())
        try:
            writer, data_fd, fault_fd = _start_writer(
                log_fd, log_file, fsync_every, native_tracebacks, writer_start_timeout
            )
        except WriterStartError:
            log_file.unlink(missing_ok=True)
            raise
        crash_logger = CrashLogger(
            log_file=log_file, handler=PipeHandler(data_fd, log_file), writer=writer, fault_fd=fault_fd
        )
        if not _fork_hook_registered:
            os.register_at_fork(after_in_child=_after_fork_in_child)
            _fork_hook_registered = True
        _active = crash_logger
    try:
        crash_logger._start(
            log_level=log_level,
            heartbeat_interval=heartbeat_interval,
            hang_timeout=hang_timeout,
            handle_signals=handle_signals,
            native_tracebacks=native_tracebacks,
            log_system_info=log_system_info,
            fsync_every=fsync_every,
        )
    except BaseException as exc:
        # Never leave a writer process or half-installed hooks behind a failed setup.
        crash_logger.cleanup(f"setup failed: {type(exc).__name__}: {exc}")
        raise
    return logging.getLogger(log_file_prefix), crash_logger
