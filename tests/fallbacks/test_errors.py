"""The typed errors: messages name the file or value, and survive pickling."""

from __future__ import annotations

import pickle

import pytest
from stalwart.core import StalwartError
from stalwart.fallbacks import (
    CorruptFileError,
    LockTimeoutError,
    ReadError,
    UnsupportedTypeError,
    WriteError,
)


@pytest.mark.parametrize(
    "error",
    [
        WriteError("/d/a.json", "No space left on device"),
        ReadError("/d/a.json", "No such file or directory"),
        CorruptFileError("/d/a.json", "truncated", offset=12, line=3),
        LockTimeoutError("/d/a.json", "not acquired within 1 s"),
        UnsupportedTypeError("Opaque", "no lossless JSON encoding", "$[1]['x']"),
    ],
)
def test_errors_pickle_round_trip_with_their_attributes(error: Exception) -> None:
    copy = pickle.loads(pickle.dumps(error))
    assert type(error) is type(copy)
    assert str(error) == str(copy)
    assert vars(error) == vars(copy)
    assert isinstance(copy, StalwartError)


def test_corrupt_file_error_message_names_path_line_and_offset() -> None:
    error = CorruptFileError("/d/a.jsonl", "bad line", offset=40, line=3)
    assert "corrupt file /d/a.jsonl: bad line (at line 3, byte 40)" == str(error)
    assert isinstance(error, ReadError)
    assert isinstance(error, ValueError)


def test_unsupported_type_error_path_grows_as_it_unwinds() -> None:
    error = UnsupportedTypeError("Opaque", "no encoding")
    error.add_parent("[2]")
    error.add_parent("['rows']")
    assert "$['rows'][2]" == error.value_path
    assert isinstance(error, TypeError)


def test_write_and_read_errors_are_os_errors() -> None:
    assert isinstance(WriteError("p", "r"), OSError)
    assert isinstance(LockTimeoutError("p", "r"), TimeoutError)
