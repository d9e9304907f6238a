"""Ready-made logging set-ups: a ``dictConfig`` dict per profile, applied idempotently."""

from __future__ import annotations

import copy
import logging
import logging.config
import os
import threading
from collections.abc import Mapping
from typing import Any

from stalwart.core import reset_after_fork
from stalwart.monitoring._errors import HandlerOpenError, MonitoringConfigError, SetupInProgressError
from stalwart.monitoring._fields import to_level
from stalwart.monitoring._ratelimit import flush_all_summaries

__all__ = ["FEATURES", "PROFILES", "build_config", "get_logger", "reconfigure_logging", "setup_logging"]

_PKG = "stalwart.monitoring"

#: Every feature a profile can switch, with what it does.
FEATURES: Mapping[str, str] = {
    "console": "stderr stream handler",
    "file": "rotating log file <log_dir>/stalwart.log (JSON lines)",
    "error_file": "rotating file <log_dir>/errors.log for ERROR and above (JSON lines)",
    "database": "SQLite database <log_dir>/logs.db (DatabaseHandler)",
    "metrics": "MetricsHandler counting every record, rate-limited ones too (handler name 'metrics')",
    "compression": "gzip rotated files (otherwise they are kept uncompressed)",
    "rate_limiting": "RateLimitFilter on every handler",
    "redaction": "EnvironmentFilter masking secrets on every handler",
    "correlation": "CorrelationFilter: correlation id and bound context on every record",
    "context": "ContextFilter: user, session, host, elapsed_ms",
    "buffering": "BufferedHandler in front of the log file",
    "multiline": "MultilineFormatter on the console",
}

_ALL_OFF = dict.fromkeys(FEATURES, False)

#: Each profile's default level, console formatter and features.
PROFILES: Mapping[str, Mapping[str, Any]] = {
    "development": {
        "level": logging.DEBUG,
        "console_formatter": "debug",
        "features": {**_ALL_OFF, "console": True, "file": True, "database": True, "compression": False,
                     "redaction": True, "correlation": True, "context": True},
    },
    "staging": {
        "level": logging.INFO,
        "console_formatter": "structured",
        "features": {**_ALL_OFF, "console": True, "file": True, "error_file": True, "database": True,
                     "metrics": True, "compression": True, "rate_limiting": True, "redaction": True,
                     "correlation": True, "context": True},
    },
    "production": {
        "level": logging.WARNING,
        "console_formatter": "performance",
        "features": {**_ALL_OFF, "console": True, "file": True, "error_file": True, "metrics": True,
                     "compression": True, "rate_limiting": True, "redaction": True, "correlation": True,
                     "buffering": True},
    },
    "testing": {
        "level": logging.WARNING,
        "console_formatter": "performance",
        "features": {**_ALL_OFF, "console": True, "correlation": True},
    },
}  # fmt: skip

_FILE_MAX_BYTES = 10 * 1024 * 1024
_FILE_BACKUPS = 5


def build_config(
    profile: str = "development",
    level: int | str | None = None,
    features: Mapping[str, bool] | None = None,
    log_dir: str | os.PathLike[str] = "logs",
) -> dict[str, Any]:
    """Return the :func:`logging.config.dictConfig` dict for a profile, without applying it.

    Args:
        profile: ``"development"``, ``"staging"``, ``"production"`` or ``"testing"``.
        level: Root level (number or name); the profile's default if ``None``.
        features: Feature name -> on/off, overriding the profile (see :data:`FEATURES`).
        log_dir: Directory for the log files and database.

    Returns:
        A fresh dict (``version`` 1, ``disable_existing_loggers=False``) you may inspect or extend.

    Raises:
        MonitoringConfigError: On an unknown profile, feature or level name.
    """
    if profile not in PROFILES:
        raise MonitoringConfigError("profile", profile, PROFILES)
    spec = PROFILES[profile]
    enabled = dict(spec["features"])
    for name, on in (features or {}).items():
        if name not in FEATURES:
            raise MonitoringConfigError("feature", name, FEATURES)
        if not isinstance(on, bool):  # "false" would be truthy: a switch must say what it means
            raise MonitoringConfigError(f"feature {name!r}", on, ["True", "False"])
        enabled[name] = on
    root_level = to_level(level) if level is not None else int(spec["level"])
    directory = os.path.expanduser(os.fspath(log_dir))

    filters: dict[str, Any] = {}
    chain: list[str] = []
    if enabled["correlation"]:
        filters["correlation"] = {"()": f"{_PKG}.CorrelationFilter"}
        chain.append("correlation")
    if enabled["context"]:
        filters["context"] = {"()": f"{_PKG}.ContextFilter"}
        chain.append("context")
    if enabled["rate_limiting"]:
        filters["rate_limit"] = {"()": f"{_PKG}.RateLimitFilter", "rate": 50.0, "burst": 200}
        chain.append("rate_limit")
    if enabled["redaction"]:
        filters["redaction"] = {"()": f"{_PKG}.EnvironmentFilter", "environment": profile}
        chain.append("redaction")

    console_formatter = "multiline" if enabled["multiline"] else spec["console_formatter"]
    formatters = {
        name: {"()": f"{_PKG}.{cls}"}
        for name, cls in (
            ("debug", "DebugFormatter"),
            ("structured", "StructuredFormatter"),
            ("performance", "PerformanceFormatter"),
            ("multiline", "MultilineFormatter"),
            ("json", "JSONFormatter"),
        )
    }
    compression = "gzip" if enabled["compression"] else "none"

    def rotating(filename: str, level_name: str | None = None) -> dict[str, Any]:
        handler: dict[str, Any] = {
            "class": f"{_PKG}.CompressedRotatingFileHandler",
            "filename": os.path.join(directory, filename),
            "max_bytes": _FILE_MAX_BYTES,
            "backup_count": _FILE_BACKUPS,
            "compression": compression,
            "delay": True,
            "formatter": "json",
            "filters": list(chain),
        }
        if level_name:
            handler["level"] = level_name
        return handler

    handlers: dict[str, Any] = {}
    root_handlers: list[str] = []
    if enabled["console"]:
        handlers["console"] = {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stderr",
            "formatter": console_formatter,
            "filters": list(chain),
        }
        root_handlers.append("console")
    if enabled["file"]:
        handlers["file"] = rotating("stalwart.log")
        if enabled["buffering"]:
            # The buffer runs the filters in the caller's thread, so the file itself needs none.
            handlers["file"]["filters"] = []
            handlers["buffer"] = {
                "class": f"{_PKG}.BufferedHandler",
                "capacity": 1000,
                "flush_level": "ERROR",
                "flush_interval": 5.0,
                "target": "file",
                "filters": list(chain),
            }
            root_handlers.append("buffer")
        else:
            root_handlers.append("file")
    if enabled["error_file"]:
        handlers["error_file"] = rotating("errors.log", "ERROR")
        root_handlers.append("error_file")
    if enabled["database"]:
        handlers["database"] = {
            "class": f"{_PKG}.DatabaseHandler",
            "path": os.path.join(directory, "logs.db"),
            "filters": list(chain),
        }
        root_handlers.append("database")
    if enabled["metrics"]:
        # No filters: metrics count every record at the root's level (a flood the rate limiter thins out is
        # exactly what they must show), and they print no field the other filters add or mask.
        handlers["metrics"] = {"class": f"{_PKG}.MetricsHandler", "filters": []}
        root_handlers.append("metrics")

    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": formatters,
        "filters": filters,
        "handlers": handlers,
        "root": {"level": root_level, "handlers": root_handlers},
    }


def _log_files(config: Mapping[str, Any]) -> list[str]:
    return [h["filename"] for h in config["handlers"].values() if "filename" in h]


def _prepare_directory(config: Mapping[str, Any], log_dir: str | os.PathLike[str]) -> None:
    """Create ``log_dir`` and every log file if a handler writes there, so a path that cannot be opened fails now.

    The file handlers open their files with their first record (``delay``): without this check, a
    directory where ``stalwart.log`` should be would only show as one error report per record.
    """
    files = _log_files(config)
    if not files and not any("path" in h for h in config["handlers"].values()):
        return
    directory = os.path.expanduser(os.fspath(log_dir))
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as exc:
        raise HandlerOpenError(directory, f"cannot create the log directory: {exc.strerror or exc}") from exc
    for filename in files:
        try:
            with open(filename, "a", encoding="utf-8"):
                pass
        except OSError as exc:
            raise HandlerOpenError(filename, exc.strerror or str(exc)) from exc


# Handlers the last setup_logging built (also those only a BufferedHandler forwards to), closed by the next one.
_installed: list[logging.Handler] = []


class _SetupGuard:
    """One set-up at a time: two threads reconfiguring at once would each close what the other installs."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        # The thread inside setup_logging, if any: a second call on it (a signal handler) would wait for itself.
        self.thread: int | None = None

    def _after_fork_in_child(self) -> None:
        # Another thread of the parent may have been inside setup_logging: its lock is held for ever here.
        self.lock = threading.Lock()
        self.thread = None


_guard = _SetupGuard()


def _build_handlers(config: dict[str, Any]) -> dict[str, logging.Handler]:
    """Build the config's formatters, filters and handlers as ``dictConfig`` does, touching no logger.

    Handlers are built unnamed (naming one registers it in :mod:`logging`'s table, and closing the
    old handler of that name would then unregister the new one). If one fails, those built are closed.

    Raises:
        MonitoringError: A handler of ours could not be built (e.g. :class:`HandlerOpenError`).
        ValueError: Another handler could not be built, as ``dictConfig`` raises it.
    """
    configurator = logging.config.DictConfigurator(copy.deepcopy(config))
    built = configurator.config
    for name in built["formatters"]:
        built["formatters"][name] = configurator.configure_formatter(built["formatters"][name])
    for name in built["filters"]:
        built["filters"][name] = configurator.configure_filter(built["filters"][name])
    handlers: dict[str, logging.Handler] = {}
    try:
        pending = sorted(built["handlers"])
        while pending:
            deferred: list[str] = []
            for name in pending:
                try:
                    handler = configurator.configure_handler(built["handlers"][name])
                except Exception as exc:
                    # A BufferedHandler whose target is built later (dictConfig defers it the same way).
                    if "not configured yet" in f"{exc} {exc.__cause__}" and len(deferred) < len(pending) - 1:
                        deferred.append(name)
                        continue
                    if exc.__class__.__module__.startswith("stalwart."):
                        raise
                    raise ValueError(f"Unable to configure handler {name!r}") from exc
                built["handlers"][name] = handlers[name] = handler
            pending = deferred
    except BaseException:
        for handler in handlers.values():
            handler.close()
        raise
    return handlers


def _attached_elsewhere(handler: logging.Handler, root: logging.Logger) -> bool:
    """Whether a logger other than ``root`` still sends records to ``handler``."""
    loggers = list(logging.Logger.manager.loggerDict.values())
    return any(
        isinstance(logger, logging.Logger) and logger is not root and handler in logger.handlers for logger in loggers
    )


def _to_close(old: list[logging.Handler], root: logging.Logger) -> list[logging.Handler]:
    """Return the old handlers no other logger uses, buffers first, then what they forward to.

    A ``MemoryHandler``'s ``close`` forwards what it holds to its target (and forgets the target),
    so the target is closed after it: closed before, the target would reopen its file for those
    records and keep it open.
    """
    chosen = [handler for handler in old if not _attached_elsewhere(handler, root)]
    targets: list[logging.Handler] = []
    for handler in chosen:
        target = getattr(handler, "target", None)
        if isinstance(target, logging.Handler) and target not in chosen and not _attached_elsewhere(target, root):
            targets.append(target)
    buffers = [handler for handler in chosen if getattr(handler, "target", None) is not None]
    rest = [handler for handler in [*chosen, *targets] if handler not in buffers]
    return list(dict.fromkeys([*buffers, *rest]))


def _swap(root: logging.Logger, config: Mapping[str, Any], handlers: dict[str, logging.Handler]) -> None:
    """Install ``handlers`` on ``root``, then close the handlers they replace (see :func:`setup_logging`)."""
    replaced = list(root.handlers)
    # One assignment: a thread logging meanwhile walks either the old list or the new one.
    root.handlers = [handlers[name] for name in config["root"]["handlers"]]
    root.setLevel(config["root"]["level"])
    # As dictConfig with disable_existing_loggers=False: loggers an earlier fileConfig/dictConfig disabled log again.
    for logger in list(logging.Logger.manager.loggerDict.values()):
        if isinstance(logger, logging.Logger):
            logger.disabled = False
    previous = list(_installed)
    _installed[:] = handlers.values()
    failures: list[tuple[logging.Handler, Exception]] = []
    for handler in _to_close([*previous, *replaced], root):
        try:
            handler.close()
        except Exception as exc:  # noqa: BLE001 - the new set-up is in: one old handler must not stop the rest
            failures.append((handler, exc))
    # Named last: closing an old handler unregisters its name, which may be a new handler's name too.
    for name, handler in handlers.items():
        handler.set_name(name)
    for handler, error in failures:
        logging.getLogger(_PKG).warning("could not close the replaced handler %r: %r", handler, error)


def setup_logging(
    profile: str = "development",
    level: int | str | None = None,
    features: Mapping[str, bool] | None = None,
    log_dir: str | os.PathLike[str] = "logs",
) -> dict[str, Any]:
    """Configure stdlib logging from a profile (see :func:`build_config`) and return the config used.

    Creates ``log_dir`` and the log files if a handler writes there. The new
    handlers are built first: if one cannot be, they are closed and the
    running set-up is left as it was. Then they replace the root logger's
    handlers in one step, and only then are the replaced handlers closed
    (their files, databases and threads) with every handler the previous
    :func:`setup_logging` built, buffers before the handlers they forward to;
    a replaced handler that another logger still uses is left open, and a
    handler that fails to close is reported (a warning through the new
    set-up), never stopping the others. Handlers on other loggers are never
    touched (``logging.config.dictConfig`` itself would close every handler
    in the process); loggers an earlier configuration disabled are enabled
    again, as ``dictConfig`` does with ``disable_existing_loggers=False``.
    Calling it again with the same arguments leaves the same set-up.

    Args:
        profile: ``"development"``, ``"staging"``, ``"production"`` or ``"testing"``.
        level: Root level; the profile's default if ``None``.
        features: Feature name -> on/off overrides.
        log_dir: Directory for the log files and database (``~`` is expanded).

    Returns:
        The ``dictConfig`` dict that was applied.

    Raises:
        MonitoringConfigError: On an unknown profile, feature or level name.
        HandlerOpenError: If the log directory, a log file or the database cannot be opened.
        SetupInProgressError: If called on a thread that is already inside it (a signal handler
            interrupting a reload); the running call finishes its set-up.
    """
    config = build_config(profile, level, features, log_dir)
    if _guard.thread == threading.get_ident():
        raise SetupInProgressError
    reset_after_fork(_guard)  # registered on first use: importing does no work
    with _guard.lock:
        _guard.thread = threading.get_ident()
        try:
            _prepare_directory(config, log_dir)
            handlers = _build_handlers(config)
            try:
                # Rate limiters owe the summaries of suppressed records to the handlers about to be replaced.
                flush_all_summaries()
            except BaseException:
                for handler in handlers.values():
                    handler.close()
                raise
            _swap(logging.getLogger(), config, handlers)
        finally:
            _guard.thread = None
    return config


def reconfigure_logging(
    profile: str = "development",
    level: int | str | None = None,
    features: Mapping[str, bool] | None = None,
    log_dir: str | os.PathLike[str] = "logs",
) -> dict[str, Any]:
    """Switch the running program to another profile; same as :func:`setup_logging`.

    Idempotent: old handlers are flushed and closed, none are duplicated.

    Args:
        profile: The profile name.
        level: Root level; the profile's default if ``None``.
        features: Feature name -> on/off overrides.
        log_dir: Directory for the log files and database.

    Returns:
        The ``dictConfig`` dict that was applied.
    """
    return setup_logging(profile, level, features, log_dir)


def get_logger(name: str | None = None) -> logging.Logger:
    """Return the stdlib logger ``name`` (the root logger for ``None``)."""
    return logging.getLogger(name)
