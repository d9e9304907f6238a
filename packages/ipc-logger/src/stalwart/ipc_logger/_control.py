"""Control requests to a running master (``stalwart ipc status``)."""

from __future__ import annotations

import uuid

import msgspec
import zmq
from stalwart.ipc_logger import _protocol as proto
from stalwart.ipc_logger._config import parse_path
from stalwart.ipc_logger._errors import IPCLoggerError, MasterUnreachableError
from stalwart.ipc_logger._master import MasterStats

__all__ = ["request_status"]


def request_status(path: str, timeout_s: float = 5.0) -> MasterStats:
    """Ask the master serving ``path`` for its stats.

    The request goes over the master's own endpoint (a ``STATUS`` message on
    the same ROUTER socket workers use), so it works for ``ipc://`` and
    ``tcp://`` alike.

    Args:
        path: The master's endpoint.
        timeout_s: How long to wait for the answer.

    Returns:
        The master's stats.

    Raises:
        ConfigError: If ``path`` is malformed.
        MasterUnreachableError: If no master answered in time.
        IPCLoggerError: If the answer was not a stats message.

    """
    parse_path(path)
    context: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    sock = context.socket(zmq.DEALER)
    try:
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.ROUTING_ID, f"status|{uuid.uuid4().hex[:12]}".encode())
        sock.connect(path)
        sock.send_multipart([proto.STATUS])
        if not sock.poll(int(timeout_s * 1000), zmq.POLLIN):
            raise MasterUnreachableError(path, timeout_s)
        frames = sock.recv_multipart()
    finally:
        sock.close(linger=0)
        context.term()
    if len(frames) != 2 or frames[0] != proto.STATUS_REPLY:
        raise IPCLoggerError(f"master at {path} sent an unexpected status reply ({len(frames)} frames)")
    try:
        return msgspec.msgpack.decode(frames[1], type=MasterStats)
    except msgspec.DecodeError as exc:
        raise IPCLoggerError(f"master at {path} sent unreadable stats: {exc}") from exc
