"""Pipe framing: any chunking of the byte stream yields the same frames."""

from __future__ import annotations

import itertools
import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stalwart.core import Record, decode_batch
from stalwart.crash_logger._protocol import (
    HEADER,
    RECORDS,
    SHUTDOWN,
    FrameError,
    FrameReader,
    records_frame,
    shutdown_frame,
)


def _record(message: str) -> Record:
    return Record(ts_ns=1, level=logging.INFO, logger="t", message=message)


@given(
    messages=st.lists(st.text(max_size=300), max_size=8),
    cuts=st.lists(st.integers(min_value=0, max_value=5000), max_size=10),
)
def test_frames_survive_any_chunking(messages: list[str], cuts: list[int]) -> None:
    stream = b"".join(records_frame([_record(m)]) for m in messages) + shutdown_frame("bye")
    points = sorted({min(c, len(stream)) for c in cuts} | {0, len(stream)})
    reader = FrameReader()
    frames = []
    for start, stop in itertools.pairwise(points):
        frames.extend(reader.feed(stream[start:stop]))
    assert [RECORDS] * len(messages) + [SHUTDOWN] == [kind for kind, _ in frames]
    assert messages == [decode_batch(payload)[0].message for _, payload in frames[:-1]]
    assert b"bye" == frames[-1][1]
    assert 0 == reader.pending


def test_partial_frame_stays_pending() -> None:
    frame = records_frame([_record("x")])
    reader = FrameReader()
    assert [] == reader.feed(frame[:-1])
    assert len(frame) - 1 == reader.pending


def test_unknown_frame_type_is_an_error_naming_the_offset() -> None:
    with pytest.raises(FrameError, match="offset 0: type=9"):
        FrameReader().feed(HEADER.pack(1, 9) + b"x")
