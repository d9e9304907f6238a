"""The record readers every formatter and handler shares: ISO time, extras, message, traceback."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from stalwart.monitoring._fields import iso_utc, record_extras


def _expected_iso(created: float) -> str:
    whole = int(created // 1)
    micros = min(int((created - whole) * 1_000_000), 999_999)
    moment = dt.datetime.fromtimestamp(whole, tz=dt.timezone.utc).replace(microsecond=micros)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def make_record(**extra: Any) -> logging.LogRecord:
    record = logging.LogRecord("app", logging.INFO, "/src/app.py", 1, "hello", (), None)
    record.__dict__.update(extra)
    return record


@given(st.floats(min_value=0, max_value=4_102_444_800, allow_nan=False))
def test_iso_utc_matches_datetime_for_any_time(created: float) -> None:
    assert _expected_iso(created) == iso_utc(created)


def test_iso_utc_truncates_to_microseconds_and_follows_second_changes() -> None:
    assert "2026-01-02T03:04:05.123456Z" == iso_utc(1767323045.1234567)
    assert "2026-01-02T03:04:06.000001Z" == iso_utc(1767323046.0000015)
    assert "2026-01-02T03:04:05.999999Z" == iso_utc(1767323045.9999995)
    assert "2026-01-02T03:04:05.000000Z" == iso_utc(1767323045.0)


def test_iso_utc_never_rounds_into_the_next_second() -> None:
    assert "1970-01-01T00:00:00.999999Z" == iso_utc(0.9999999999999999)
    assert "1970-01-01T00:00:00.999999Z" == iso_utc(0.9999999)


def test_iso_utc_handles_times_going_backwards() -> None:
    assert "2026-01-02T03:04:05.500000Z" == iso_utc(1767323045.5)
    assert "2026-01-02T03:04:04.250000Z" == iso_utc(1767323044.25)
    assert "2026-01-02T03:04:05.750000Z" == iso_utc(1767323045.75)


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
