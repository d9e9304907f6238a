"""Errors raised by stalwart-ipc-logger."""

from __future__ import annotations

from stalwart.core import StalwartError

__all__ = [
    "AddressInUseError",
    "ConfigError",
    "HandlerError",
    "IPCLoggerError",
    "MasterUnreachableError",
    "ShutdownTimeoutError",
    "WebhookError",
]


class IPCLoggerError(StalwartError):
    """Base class of every error raised by stalwart-ipc-logger."""


class ConfigError(IPCLoggerError, ValueError):
    """A :class:`~stalwart.ipc_logger.LoggerConfig` value is invalid.

    Attributes:
        key: The option at fault.
        value: The rejected value.

    """

    def __init__(self, key: str, value: object, reason: str) -> None:
        self.key = key
        self.value = value
        super().__init__(f"invalid LoggerConfig {key}={value!r}: {reason}")


class AddressInUseError(IPCLoggerError, OSError):
    """Another master already serves this path.

    Attributes:
        path: The endpoint that could not be bound.

    """

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        super().__init__(f"cannot bind master to {path}: {reason}")


class ShutdownTimeoutError(IPCLoggerError, TimeoutError):
    """A worker's shutdown did not get the master's acknowledgement in time.

    Attributes:
        path: The master's endpoint.
        last_seq: The worker's last sequence number that was not acknowledged.
        unsent: Records that were never handed to the transport.

    """

    def __init__(self, path: str, last_seq: int, unsent: int, timeout_s: float) -> None:
        self.path = path
        self.last_seq = last_seq
        self.unsent = unsent
        super().__init__(
            f"master at {path} did not acknowledge seq {last_seq} within {timeout_s:g}s "
            f"({unsent} records never left the worker); records after the last "
            "acknowledged batch may be lost"
        )


class HandlerError(IPCLoggerError):
    """A log handler could not be set up (e.g. its file cannot be opened).

    Attributes:
        target: The file, URL or object at fault.

    """

    def __init__(self, target: object, reason: str) -> None:
        self.target = target
        super().__init__(f"log handler for {target!r}: {reason}")


class MasterUnreachableError(IPCLoggerError, TimeoutError):
    """No master answered a control request (e.g. ``status``) in time.

    Attributes:
        path: The endpoint that was asked.

    """

    def __init__(self, path: str, timeout_s: float) -> None:
        self.path = path
        super().__init__(f"no master answered at {path} within {timeout_s:g}s")


class WebhookError(IPCLoggerError):
    """A webhook handler was configured wrongly (bad URL, bad limits).

    Attributes:
        value: The rejected value.

    """

    def __init__(self, value: object, reason: str) -> None:
        self.value = value
        super().__init__(f"invalid webhook setting {value!r}: {reason}")
