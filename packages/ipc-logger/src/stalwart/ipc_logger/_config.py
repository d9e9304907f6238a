"""``LoggerConfig``: the options masters and workers share, and endpoint parsing."""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import sys
import tempfile
from typing import Literal, NamedTuple

from stalwart.core import Level
from stalwart.ipc_logger._errors import ConfigError

__all__ = ["DEFAULT_FORMAT", "Endpoint", "LoggerConfig", "Overflow", "default_path", "parse_path"]

#: What a worker does when its bounded buffer is full.
Overflow = Literal["block", "drop_newest"]

#: The stdlib-style ``%`` format masters use for text output unless told otherwise.
DEFAULT_FORMAT = "%(asctime)s [%(levelname)s] %(name)s - %(message)s"

# sun_path is 108 bytes on Linux (104 on the BSDs/macOS), one of them the terminating NUL.
_UNIX_PATH_MAX = 107 if sys.platform.startswith("linux") else 103


class Endpoint(NamedTuple):
    """A parsed ``path``: ``ipc://FILE`` or ``tcp://HOST:PORT``.

    Attributes:
        scheme: ``"ipc"`` or ``"tcp"``.
        file: The socket file (``ipc`` only, else ``""``).
        host: The host (``tcp`` only, else ``""``).
        port: The port (``tcp`` only; ``0`` asks the master for a free port).

    """

    scheme: Literal["ipc", "tcp"]
    file: str
    host: str
    port: int


# RFC 1123 host name labels; "_" too, as ZeroMQ and many internal DNS zones accept it.
_LABEL = re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$")
_DOTTED_NUMBERS = re.compile(r"^[0-9.]+$")


def _check_host(path: str, host: str) -> str:
    """Return the host of a ``tcp://`` path without IPv6 brackets, or raise ConfigError."""
    if host.startswith("[") and host.endswith("]"):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError as exc:
            raise ConfigError("path", path, f"{host} is not an IPv6 address: {exc}") from None
        return host[1:-1]
    if host == "*":
        return host  # ZeroMQ's "every interface", for a master's bind
    if any(char.isspace() for char in host):
        raise ConfigError("path", path, f"host {host!r} contains whitespace")
    if _DOTTED_NUMBERS.match(host):
        try:
            ipaddress.IPv4Address(host)
        except ValueError as exc:
            raise ConfigError("path", path, f"host {host!r} is not an IPv4 address: {exc}") from None
        return host
    labels = host[:-1].split(".") if host.endswith(".") else host.split(".")
    if len(host) > 253 or not all(_LABEL.match(label) for label in labels):
        raise ConfigError(
            "path", path, f"host {host!r} is not a host name, IPv4 address or [IPv6] address"
        )
    return host


def _runtime_dir() -> str:
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg and os.path.isdir(xdg):
        return xdg
    uid = os.getuid() if hasattr(os, "getuid") else os.getpid()
    return os.path.join(tempfile.gettempdir(), f"stalwart-{uid}")


def default_path() -> str:
    """Return the default endpoint: ``ipc://`` in a per-user runtime directory.

    The directory is ``$XDG_RUNTIME_DIR`` when set, else
    ``<tempdir>/stalwart-<uid>`` (created with mode 0700 by the master).
    """
    return f"ipc://{os.path.join(_runtime_dir(), 'stalwart.sock')}"


def parse_path(path: str) -> Endpoint:
    """Parse and check an endpoint.

    Args:
        path: ``ipc:///abs/or/rel/file`` or ``tcp://host:port``.

    Returns:
        The parsed endpoint.

    Raises:
        ConfigError: If the scheme is unknown, the file name is empty or too
            long for a Unix socket, the host is not a host name, IPv4 address
            (octets up to 255) or bracketed IPv6 address (whitespace included),
            or the port is not 0..65535.

    """
    if not isinstance(path, str):
        raise ConfigError("path", path, "must be a string like ipc:///run/x.sock or tcp://host:port")
    if path.startswith("ipc://"):
        file = path[len("ipc://") :]
        if not file or file.endswith("/"):
            raise ConfigError("path", path, "ipc:// needs a socket file name")
        if file.startswith("@"):
            raise ConfigError("path", path, "abstract-namespace sockets are not supported; use a file")
        size = len(os.fsencode(file))
        if size > _UNIX_PATH_MAX:
            raise ConfigError(
                "path",
                path,
                f"socket file name is {size} bytes; Unix sockets allow {_UNIX_PATH_MAX}",
            )
        return Endpoint("ipc", file, "", 0)
    if path.startswith("tcp://"):
        host, sep, port_text = path[len("tcp://") :].rpartition(":")
        if not sep or not host:
            raise ConfigError("path", path, "tcp:// needs host:port")
        if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
            raise ConfigError("path", path, f"port {port_text!r} is not a number in 0..65535")
        return Endpoint("tcp", "", _check_host(path, host), int(port_text))
    raise ConfigError("path", path, "scheme must be ipc:// or tcp://")


@dataclasses.dataclass(frozen=True)
class LoggerConfig:
    """Options shared by :class:`MasterLogger` and :class:`WorkerLogger`.

    Attributes:
        base_level: Records below this level are discarded (by workers before
            sending, and by the master before its handlers).
        path: ``ipc://FILE`` (one host) or ``tcp://HOST:PORT`` (across hosts).
        flush_interval_s: A worker sends what it has at least this often.
        max_batch: A worker sends as soon as this many records are buffered.
        str_format: ``%``-style format text handlers use (stdlib attribute names).
        heartbeat_interval_s: How often a worker checks in.
        heartbeat_grace_s: How late a check-in may be before the worker is
            reported dead.
        queue_limit: Records a worker buffers before ``overflow`` applies.
        overflow: ``"block"`` (the caller waits for room) or ``"drop_newest"``
            (the record is dropped and counted).

    Raises:
        ConfigError: On construction, if any value is out of range.

    """

    base_level: int = Level.INFO
    path: str = dataclasses.field(default_factory=default_path)
    flush_interval_s: float = 0.1
    max_batch: int = 1000
    str_format: str = DEFAULT_FORMAT
    heartbeat_interval_s: float = 60.0
    heartbeat_grace_s: float = 1.0
    queue_limit: int = 100_000
    overflow: Overflow = "block"

    def __post_init__(self) -> None:
        parse_path(self.path)
        if not isinstance(self.base_level, int) or isinstance(self.base_level, bool):
            raise ConfigError("base_level", self.base_level, "must be an int level")
        for key in ("flush_interval_s", "heartbeat_interval_s"):
            value = getattr(self, key)
            if not isinstance(value, (int, float)) or not value > 0:
                raise ConfigError(key, value, "must be a positive number of seconds")
        if not isinstance(self.heartbeat_grace_s, (int, float)) or self.heartbeat_grace_s < 0:
            raise ConfigError("heartbeat_grace_s", self.heartbeat_grace_s, "must be >= 0 seconds")
        for key in ("max_batch", "queue_limit"):
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(key, value, "must be a positive int")
        if self.overflow not in ("block", "drop_newest"):
            raise ConfigError("overflow", self.overflow, "must be 'block' or 'drop_newest'")
        if not isinstance(self.str_format, str) or not self.str_format:
            raise ConfigError("str_format", self.str_format, "must be a non-empty format string")

    @property
    def endpoint(self) -> Endpoint:
        """The parsed :attr:`path`."""
        return parse_path(self.path)
