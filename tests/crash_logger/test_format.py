"""The log line format round-trips through the summary's parser."""

from __future__ import annotations

import datetime as dt
import logging
import time

from hypothesis import given
from hypothesis import strategies as st
from stalwart.core import Record
from stalwart.crash_logger._format import format_record, format_timestamp, parse_head

TS = 1_700_000_000_123_456_789


def test_head_line_fields_parse_back() -> None:
    record = Record(
        ts_ns=TS, level=logging.WARNING, logger="app.db", message="slow | query", process="Main", pid=7,
        thread_name="worker",
    )
    head = parse_head(format_record(record).splitlines()[0])
    assert head is not None
    expected_time = dt.datetime.fromtimestamp(TS // 1_000_000_000).replace(microsecond=123_000)
    assert (expected_time, logging.WARNING, "WARNING", "Main:7", "worker", "app.db", "slow | query") == head


def test_traceback_lines_follow_the_head_and_are_not_heads() -> None:
    record = Record(ts_ns=TS, level=logging.ERROR, logger="a", message="failed", exc="Traceback...\nValueError: x\n")
    lines = format_record(record).splitlines()
    assert ["Traceback...", "ValueError: x"] == lines[1:]
    assert [None, None] == [parse_head(line) for line in lines[1:]]


def test_trace_level_name_parses_to_its_number() -> None:
    head = parse_head(format_record(Record(ts_ns=TS, level=5, logger="a", message="m")))
    assert head is not None
    assert 5 == head.level


@given(st.integers(min_value=0, max_value=4_000_000_000 * 10**9))
def test_timestamp_has_millisecond_precision(ts_ns: int) -> None:
    stamp = format_timestamp(ts_ns)
    assert time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts_ns // 10**9)) == stamp[:19]
    assert f"{(ts_ns % 10**9) // 10**6:03d}" == stamp[20:]
