"""``@crash_safe_log``: crash-safe logging around one function call, sync or async."""

from __future__ import annotations

import functools
import inspect
import logging
import os
import reprlib
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, ParamSpec, TypeVar, overload

from stalwart.crash_logger._crash_logger import CrashLogger, active_crash_logger, setup_logging
from stalwart.crash_logger._events import EXCEPTION

__all__ = ["crash_safe_log"]

P = ParamSpec("P")
R = TypeVar("R")

_result_repr = reprlib.Repr()
_result_repr.maxstring = 200
_result_repr.maxother = 200


class _Run:
    """Start and end lines of one decorated call; sets logging up unless it already runs."""

    def __init__(self, name: str, options: dict[str, Any]) -> None:
        existing = active_crash_logger()
        self.owns = existing is None
        self.crash_logger: CrashLogger = existing if existing is not None else setup_logging(**options)[1]
        self.name = name
        self.crash_logger.log_event(logging.INFO, "Starting %s (pid %d)", name, os.getpid())
        self.started = time.perf_counter()

    def returned(self, result: object) -> None:
        self.crash_logger.log_event(
            logging.INFO,
            "Function %s completed in %.3f s, returned %s",
            self.name,
            time.perf_counter() - self.started,
            _result_repr.repr(result),
        )

    def raised(self, exc: BaseException) -> None:
        elapsed = time.perf_counter() - self.started
        log = self.crash_logger.log_event
        if isinstance(exc, SystemExit):
            code = exc.code if isinstance(exc.code, int) or exc.code is None else 1
            self.crash_logger.note_exit_code(code or 0)
            log(logging.INFO, "Function %s called sys.exit(%r) after %.3f s", self.name, exc.code, elapsed)
        elif isinstance(exc, KeyboardInterrupt):
            self.crash_logger.note_exit_code(130)
            log(
                logging.CRITICAL,
                "Function %s interrupted by KeyboardInterrupt after %.3f s",
                self.name,
                elapsed,
                exc_info=exc,
            )
        else:
            self.crash_logger.note_exit_code(1)
            log(
                logging.CRITICAL,
                "%s %s after %.3f s: %s: %s",
                EXCEPTION,
                self.name,
                elapsed,
                type(exc).__name__,
                exc,
                exc_info=exc,
            )

    def __enter__(self) -> _Run:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        # Returning None lets the exception propagate: the decorator logs, it never swallows.
        try:
            if exc is not None:
                self.raised(exc)
        finally:
            if self.owns:
                self.crash_logger.cleanup(f"{self.name} finished")


@overload
def crash_safe_log(
    log_file_prefix: Callable[P, R],
) -> Callable[P, R]: ...


@overload
def crash_safe_log(
    log_file_prefix: str = ...,
    heartbeat_interval: float = ...,
    log_level: int = ...,
    log_system_info: bool = ...,
    log_dir: str | os.PathLike[str] = ...,
    **options: Any,
) -> Callable[[Callable[P, R]], Callable[P, R]]: ...


def crash_safe_log(
    log_file_prefix: str | Callable[..., Any] = "execution",
    heartbeat_interval: float = 10.0,
    log_level: int = logging.DEBUG,
    log_system_info: bool = True,
    log_dir: str | os.PathLike[str] = "logs",
    **options: Any,
) -> Any:
    """Run each call of the decorated function under crash-safe logging.

    Each call sets up logging (see :func:`setup_logging`; if this process
    already runs it, the call reuses it), logs the start, then the completion
    with its duration and return value, or the full traceback, and re-raises.
    Logging is cleaned up when the call ends. Works for ``async def`` too.

    Args:
        log_file_prefix: File name prefix (or, used bare as ``@crash_safe_log``, the function).
        heartbeat_interval: Seconds between heartbeat lines; 0 turns them off.
        log_level: Minimum level of your records.
        log_system_info: Write system information at start.
        log_dir: Root directory of the logs tree.
        **options: Further :func:`setup_logging` keywords (``fsync_every``, ``hang_timeout``, ...).

    Returns:
        The decorator (or, used bare, the decorated function).

    Raises:
        LogDirError: At call time, before the function runs, if the log file cannot be created.
    """
    if callable(log_file_prefix):
        return crash_safe_log()(log_file_prefix)
    settings: dict[str, Any] = {
        "log_file_prefix": log_file_prefix,
        "heartbeat_interval": heartbeat_interval,
        "log_level": log_level,
        "log_system_info": log_system_info,
        "log_dir": log_dir,
        **options,
    }

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        name = getattr(func, "__qualname__", repr(func))
        if inspect.iscoroutinefunction(func):
            coroutine = func

            @functools.wraps(func)
            async def async_wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
                with _Run(name, settings) as run:
                    result = await coroutine(*args, **kwargs)
                    run.returned(result)
                return result

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(func)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            with _Run(name, settings) as run:
                result = func(*args, **kwargs)
                run.returned(result)
            return result

        return wrapper

    return decorate
