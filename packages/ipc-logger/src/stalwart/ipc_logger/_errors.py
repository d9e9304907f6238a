"""Errors raised by stalwart-ipc-logger."""

from __future__ import annotations

from stalwart.core import StalwartError

__all__ = [
    "AddressInUseError",
    "ConfigError",
    "DeliveryError",
    "HandlerError",
    "IPCLoggerError",
    "MasterUnreachableError",
    "ShutdownTimeoutError",
    "WebhookError",
    "WorkerClosedError",
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


class DeliveryError(IPCLoggerError):
    """The master answered a worker's shutdown, but cannot vouch for every record it sent.

    Raised by :meth:`WorkerLogger.shutdown` when the master counted records of
    this worker as lost (a ``seq`` gap), acknowledged a lower ``seq`` than the
    worker sent, or never saw the start of the worker's sequence (it started or
    restarted after records were sent to an earlier master instance).

    Attributes:
        path: The master's endpoint.
        worker: The worker's name.
        sent_seq: The last ``seq`` the worker sent.
        acked_seq: The highest ``seq`` up to which the master received every record.
        lost: Records the master counted as missing from this worker.
        unconfirmed: Records sent before the first ``seq`` this master saw.

    """

    def __init__(
        self, path: str, worker: str, *, sent_seq: int, acked_seq: int, lost: int, unconfirmed: int
    ) -> None:
        self.path = path
        self.worker = worker
        self.sent_seq = sent_seq
        self.acked_seq = acked_seq
        self.lost = lost
        self.unconfirmed = unconfirmed
        super().__init__(
            f"master at {path} cannot confirm delivery for worker {worker!r}: it received every "
            f"record only up to seq {acked_seq} of {sent_seq} sent, counted {lost} lost, and "
            f"{unconfirmed} were sent before the first seq it saw (an earlier master instance)"
        )


class WorkerClosedError(IPCLoggerError):
    """A log call was refused: the worker's shutdown has begun, or its sender thread failed.

    Every refused call is also counted in :attr:`WorkerStats.refused`.

    Attributes:
        worker: The worker's name.
        reason: Why the record was refused.

    """

    def __init__(self, worker: str, reason: str) -> None:
        self.worker = worker
        self.reason = reason
        super().__init__(f"worker {worker!r} refused a record: {reason}")


class HandlerError(IPCLoggerError):
    """A log handler could not be set up, or reported failures while handling a batch.

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
