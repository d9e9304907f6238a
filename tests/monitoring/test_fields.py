"""The record readers every formatter and handler shares: ISO time, extras, message, traceback."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stalwart.monitoring._fields import iso_utc, iso_utc_ns, message_and_extras, record_extras, record_message


def _expected_iso(created: float) -> str:
    whole, nanos = divmod(int(created * 1e9), 1_000_000_000)
    moment = dt.datetime.fromtimestamp(whole, tz=dt.timezone.utc).replace(microsecond=nanos // 1000)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def make_record(**extra: Any) -> logging.LogRecord:
    record = logging.LogRecord("app", logging.INFO, "/src/app.py", 1, "hello", (), None)
    record.__dict__.update(extra)
    return record


@given(st.floats(min_value=0, max_value=4_102_444_800, allow_nan=False))
def test_iso_utc_matches_datetime_for_any_time(created: float) -> None:
    assert _expected_iso(created) == iso_utc(created)


def test_iso_utc_ns_truncates_to_microseconds() -> None:
    assert "2026-01-02T03:04:05.123456Z" == iso_utc_ns(1767323045_123456999)
    assert "2026-01-02T03:04:05.999999Z" == iso_utc_ns(1767323045_999999999)
    assert "2026-01-02T03:04:06.000000Z" == iso_utc_ns(1767323046_000000000)
    assert "1970-01-01T00:00:00.000001Z" == iso_utc_ns(1000)


def test_iso_utc_ns_follows_milliseconds_and_seconds_in_both_directions() -> None:
    base = 1767323045_000000000
    steps = [123_456_000, 123_999_999, 124_000_000, 123_000_001, 999_999_999, 1_000_000_000, 999_000_000, -1, 5_000]
    assert [
        "2026-01-02T03:04:05.123456Z",
        "2026-01-02T03:04:05.123999Z",
        "2026-01-02T03:04:05.124000Z",
        "2026-01-02T03:04:05.123000Z",
        "2026-01-02T03:04:05.999999Z",
        "2026-01-02T03:04:06.000000Z",
        "2026-01-02T03:04:05.999000Z",
        "2026-01-02T03:04:04.999999Z",
        "2026-01-02T03:04:05.000005Z",
    ] == [iso_utc_ns(base + step) for step in steps]


def test_iso_utc_follows_the_second_in_both_directions() -> None:
    times = [1767323045.5, 1767323044.25, 1767323045.75, 1767323046.0, 0.9999999999999999, 1767323045.1]
    assert [_expected_iso(created) for created in times] == [iso_utc(created) for created in times]


def test_iso_utc_never_rounds_into_the_next_second() -> None:
    assert "1970-01-01T00:00:00.999999Z" == iso_utc(0.9999999999999999)
    assert iso_utc(1767323045.9999995).startswith("2026-01-02T03:04:05.99999")


def test_iso_utc_agrees_with_the_records_ts_ns() -> None:
    created = 1767323044.25  # x 1e9 rounds to ...249999872 ns: both times say .249999
    assert iso_utc_ns(int(created * 1e9)) == iso_utc(created)


def test_extras_keep_insertion_order_and_skip_standard_and_private_names() -> None:
    record = make_record(b=1, a=2, _private=3, message="formatted", asctime="t", correlation_id="c")
    assert [("b", 1), ("a", 2)] == list(record_extras(record).items())


def test_extras_of_records_with_the_same_length_but_other_names_are_not_mixed_up() -> None:
    assert {"user": "ada"} == record_extras(make_record(user="ada"))
    assert {"order": 7} == record_extras(make_record(order=7))
    assert {"order": 7} == record_extras(make_record(order=7))
    assert {"user": "bob"} == record_extras(make_record(user="bob"))


def test_extras_added_after_a_first_read_are_seen() -> None:
    record = make_record(user="ada")
    assert {"user": "ada"} == record_extras(record)
    record.added_by_filter = True
    assert {"user": "ada", "added_by_filter": True} == record_extras(record)
    assert {} == record_extras(make_record())


def test_extras_before_the_standard_names_are_kept() -> None:
    class EarlyRecord(logging.LogRecord):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            self.tenant = "acme"
            super().__init__(*args, **kwargs)

    record = EarlyRecord("app", logging.INFO, "/src/app.py", 1, "hello", (), None)
    assert {"tenant": "acme"} == record_extras(record)


def test_extras_survive_a_standard_name_deleted_and_set_again() -> None:
    record = make_record(user="ada")
    del record.msecs
    record.msecs = 5.0
    assert {"user": "ada"} == record_extras(record)
    shuffled = make_record()
    del shuffled.exc_text
    shuffled.user = "bob"
    assert {"user": "bob"} == record_extras(shuffled)


def test_extras_of_made_log_records_are_kept() -> None:
    record = logging.makeLogRecord({"name": "app", "msg": "hi", "user": "ada", "levelno": 30})
    assert {"user": "ada"} == record_extras(record)


def test_an_extra_with_an_empty_name_is_kept() -> None:
    assert {"": 1, "user": "ada"} == record_extras(make_record(**{"": 1, "user": "ada"}))


class _ShoutingRecord(logging.LogRecord):
    def getMessage(self) -> str:
        return super().getMessage().upper()


def _records_of_every_kind() -> list[logging.LogRecord]:
    plain = logging.LogRecord("app", logging.INFO, "/src/app.py", 1, "user %s did %d things", ("ada", 3), None)
    with_extras = make_record(request_id="r-1", _private=1)
    not_a_str = logging.LogRecord("app", logging.INFO, "/src/app.py", 1, 42, (), None)
    bad_args = logging.LogRecord("app", logging.INFO, "/src/app.py", 1, "%d items", ("x",), None)
    own_method = make_record()
    own_method.getMessage = lambda: "set on the record"  # type: ignore[method-assign]
    subclass = _ShoutingRecord("app", logging.INFO, "/src/app.py", 1, "quiet %s", ("please",), None)
    return [plain, with_extras, not_a_str, bad_args, own_method, subclass]


def test_message_and_extras_agrees_with_record_message_and_record_extras() -> None:
    for record in _records_of_every_kind():
        assert (record_message(record), record_extras(record)) == message_and_extras(record)
    assert "set on the record" == message_and_extras(_records_of_every_kind()[4])[0]
    assert "QUIET PLEASE" == message_and_extras(_records_of_every_kind()[5])[0]
    assert {"request_id": "r-1"} == message_and_extras(_records_of_every_kind()[1])[1]


def test_message_and_extras_calls_a_patched_log_record_get_message(monkeypatch: pytest.MonkeyPatch) -> None:
    stdlib = logging.LogRecord.getMessage
    monkeypatch.setattr(logging.LogRecord, "getMessage", lambda record: stdlib(record).replace("ada", "***"))
    assert "user *** did 3 things" == message_and_extras(_records_of_every_kind()[0])[0]
