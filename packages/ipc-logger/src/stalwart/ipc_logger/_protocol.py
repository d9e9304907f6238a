"""The wire protocol between workers and the master (one DEALER -> ROUTER connection).

Every message is multipart: ``[kind, header, *payload]``. The master's ROUTER
socket prefixes the sender's routing id. ZeroMQ keeps one connection's
messages in order, so when the master reads a worker's ``BYE`` it has already
read every batch that worker sent before it; its ``ACK`` carrying the highest
``seq`` up to which it received every record (from ``first_seq``), with the
count it found missing, is the proof that nothing is still in flight or lost.
"""

from __future__ import annotations

import msgspec

__all__ = [
    "ACK",
    "BATCH",
    "BYE",
    "HEARTBEAT",
    "HELLO",
    "KINDS_FROM_WORKER",
    "STATUS",
    "STATUS_REPLY",
    "Ack",
    "Header",
    "decode_ack",
    "decode_header",
    "encode",
]

HELLO = b"H"  # a worker's first message: who it is
BATCH = b"B"  # header + one encode_batch() payload
HEARTBEAT = b"P"  # "I am alive, expect me again within interval_s"
BYE = b"Q"  # clean shutdown; the master answers ACK
ACK = b"A"  # master -> worker: the last seq the master received
STATUS = b"S"  # control client -> master: send me your stats
STATUS_REPLY = b"R"  # master -> control client: msgpack stats

KINDS_FROM_WORKER = frozenset({HELLO, BATCH, HEARTBEAT, BYE})


class Header(msgspec.Struct, frozen=True, array_like=True):
    """What every worker message says about its sender.

    Attributes:
        name: The worker's name.
        pid: Its process id.
        host: Its host name.
        process: Its process name.
        interval_s: Its heartbeat interval (the master expects a message
            within this time plus the grace).
        last_seq: The last sequence number this worker has sent so far.
        dropped: Total records the worker dropped by policy so far.

    """

    name: str
    pid: int
    host: str
    process: str
    interval_s: float
    last_seq: int
    dropped: int


class Ack(msgspec.Struct, frozen=True, array_like=True):
    """The master's answer to ``BYE``.

    Attributes:
        last_seq: The highest sequence number up to which the master received
            every record of that worker, starting at ``first_seq`` (it stops
            before the first gap).
        lost: Records the master counted as lost from that worker.
        first_seq: The first sequence number this master saw from that worker:
            1, unless it started (or restarted) after the worker's first records
            were sent, in which case it cannot vouch for those.

    """

    last_seq: int
    lost: int
    first_seq: int = 1


_ENCODER = msgspec.msgpack.Encoder()
_HEADER_DECODER = msgspec.msgpack.Decoder(Header)
_ACK_DECODER = msgspec.msgpack.Decoder(Ack)


def encode(message: msgspec.Struct) -> bytes:
    """Encode a protocol struct as msgpack."""
    return _ENCODER.encode(message)


def decode_header(data: bytes) -> Header:
    """Decode a header frame.

    Raises:
        msgspec.DecodeError: If the frame is not a valid header.

    """
    return _HEADER_DECODER.decode(data)


def decode_ack(data: bytes) -> Ack:
    """Decode an ACK frame.

    Raises:
        msgspec.DecodeError: If the frame is not a valid ack.

    """
    return _ACK_DECODER.decode(data)
