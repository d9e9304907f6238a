"""Errors raised by stalwart-monitoring."""

from __future__ import annotations

from collections.abc import Iterable

from stalwart.core import StalwartError

__all__ = [
    "HandlerOpenError",
    "MissingDependencyError",
    "MonitoringConfigError",
    "MonitoringError",
    "SetupInProgressError",
]


class MonitoringError(StalwartError):
    """Base class of every error stalwart-monitoring raises."""


class MonitoringConfigError(MonitoringError, ValueError):
    """A profile, feature, level or option name is not one we know.

    Attributes:
        key: What kind of name was wrong (``"profile"``, ``"feature"``, ...).
        value: The name that was given.
        valid: The names that would have been accepted.
    """

    def __init__(self, key: str, value: object, valid: Iterable[str]) -> None:
        self.key = key
        self.value = value
        self.valid = tuple(sorted(valid))
        super().__init__(f"unknown {key} {value!r}; valid: {', '.join(self.valid)}")


class HandlerOpenError(MonitoringError, OSError):
    """A handler could not open (or create) the file or database it writes to.

    Attributes:
        path: The path at fault.
        reason: What went wrong, in the underlying library's words.
    """

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"cannot open {path!r} for logging: {reason}")


class MissingDependencyError(MonitoringError, ImportError):
    """An optional feature needs a package that is not installed.

    Attributes:
        feature: The feature asked for (e.g. ``"zstd compression"``).
        extra: The install extra that brings the package.
    """

    def __init__(self, feature: str, package: str, extra: str) -> None:
        self.feature = feature
        self.extra = extra
        super().__init__(
            f"{feature} needs the {package!r} package: pip install 'stalwart-monitoring[{extra}]'"
        )


class SetupInProgressError(MonitoringError, RuntimeError):
    """``setup_logging`` was called again on a thread already inside it.

    Typically a signal handler reloading the logging set-up interrupted a
    reload in progress: the reload that runs finishes; call again afterwards.
    """

    def __init__(self) -> None:
        super().__init__(
            "setup_logging/reconfigure_logging is already running on this thread (called from a signal handler?)"
        )
