from __future__ import annotations

import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stalwart.core import Record
from stalwart.ipc_logger import ConfigError, RecordFormatter

_FORMATS = [
    "%(asctime)s [%(levelname)s] %(name)s - %(message)s",
    "%(created)f %(msecs)d %(levelno)s %(process)d %(processName)s %(thread)d %(threadName)s",
    "%(module)s:%(funcName)s:%(lineno)d %(pathname)s %(filename)s %(message)s",
]


@pytest.mark.parametrize("fmt", _FORMATS)
@given(
    # Millisecond steps: the stdlib side goes through a float of seconds, which rounds
    # nanosecond stamps just below a second boundary up to the next second.
    ts_ns=st.integers(min_value=0, max_value=4_000_000_000_000).map(lambda ms: ms * 1_000_000),
    level=st.sampled_from([5, 10, 20, 30, 40, 50, 33]),
    message=st.text(),
)
def test_fast_path_matches_stdlib_formatter(fmt: str, ts_ns: int, level: int, message: str) -> None:
    record = Record(
        ts_ns=ts_ns,
        level=level,
        logger="a.b",
        message=message,
        pid=7,
        process="P",
        thread=9,
        thread_name="T",
        module="mod",
        func="fn",
        line=3,
        path="/x/mod.py",
    )
    assert logging.Formatter(fmt).format(record.to_logging()) == RecordFormatter(fmt).format(record)


def test_traceback_follows_the_message_like_stdlib() -> None:
    record = Record(ts_ns=0, level=40, logger="a", message="boom", exc="Traceback...\nValueError: x")
    fmt = "%(levelname)s %(message)s"
    assert logging.Formatter(fmt).format(record.to_logging()) == RecordFormatter(fmt).format(record)


def test_other_attributes_such_as_extra_fields_use_the_stdlib_path() -> None:
    record = Record(ts_ns=0, level=20, logger="a", message="m", extra={"user": "ada"})
    assert "ada m" == RecordFormatter("%(user)s %(message)s").format(record)


def test_host_and_seq_are_available() -> None:
    record = Record(ts_ns=0, level=20, logger="a", message="m", host="box", seq=12)
    assert "box#12 m" == RecordFormatter("%(host)s#%(seq)d %(message)s").format(record)


def test_invalid_format_raises_config_error() -> None:
    with pytest.raises(ConfigError, match="str_format"):
        RecordFormatter("no fields here")
