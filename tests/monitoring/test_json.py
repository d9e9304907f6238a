"""JSONFormatter lines parse back as JSON and as stalwart.core.Record."""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
import threading
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stalwart.core import Record, iter_jsonl
from stalwart.monitoring import JSONFormatter


def make_record(msg: Any = "user %s", args: tuple[Any, ...] = ("ada",), **extra: Any) -> logging.LogRecord:
    record = logging.LogRecord("app.api", logging.ERROR, "/src/app/api.py", 7, msg, args, None, func="get")
    record.__dict__.update(extra)
    return record


def test_json_line_decodes_as_a_core_record_with_the_same_fields() -> None:
    record = make_record(correlation_id="req-3", user="ada", nested={"a": [1, 2]})
    line = JSONFormatter().format(record)
    decoded = Record.from_json(line)
    assert (int(record.created * 1e9), 40, "app.api", "user ada", "req-3") == (
        decoded.ts_ns, decoded.level, decoded.logger, decoded.message, decoded.correlation_id,
    )  # fmt: skip
    assert {"user": "ada", "nested": {"a": [1, 2]}} == decoded.extra
    assert ("get", 7, "api") == (decoded.func, decoded.line, decoded.module)


def test_json_line_has_readable_time_and_level_name() -> None:
    fields = json.loads(JSONFormatter().format(make_record()))
    assert "ERROR" == fields["level_name"]
    assert fields["ts"].endswith("Z")
    assert "T" == fields["ts"][10]


def test_json_line_times_agree_to_the_microsecond() -> None:
    record = make_record()
    for created in (1767323044.25, 1767323045.9999999, 0.5, 1767323046.000001):
        record.created = created
        fields = json.loads(JSONFormatter().format(record))
        whole, nanos = divmod(fields["ts_ns"], 1_000_000_000)
        expected = dt.datetime.fromtimestamp(whole, tz=dt.timezone.utc).replace(microsecond=nanos // 1000)
        assert (int(created * 1e9), expected.strftime("%Y-%m-%dT%H:%M:%S.%fZ")) == (fields["ts_ns"], fields["ts"])


def test_extras_cannot_overwrite_standard_fields() -> None:
    fields = json.loads(JSONFormatter().format(make_record(host="forged", ts="forged")))
    assert "forged" != fields["host"]
    assert {"host": "forged", "ts": "forged"} == fields["extra"]


def test_exception_is_kept_as_text() -> None:
    record = make_record()
    try:
        raise KeyError("missing")
    except KeyError:
        record.exc_info = sys.exc_info()
    fields = json.loads(JSONFormatter().format(record))
    assert fields["exc"].startswith("Traceback (most recent call last):")
    assert fields["exc"].endswith("KeyError: 'missing'")


def test_values_json_cannot_carry_are_kept_as_their_repr() -> None:
    class Thing:
        def __repr__(self) -> str:
            return "<Thing 1>"

    cyclic: list[Any] = []
    cyclic.append(cyclic)
    fields = json.loads(JSONFormatter().format(make_record(obj=Thing(), keyed={(1, 2): "t"}, loop=cyclic)))
    assert "<Thing 1>" == fields["extra"]["obj"]
    assert {"(1, 2)": "t"} == fields["extra"]["keyed"]
    assert isinstance(fields["extra"]["loop"], list)


def test_static_fields_are_added_and_record_extras_win() -> None:
    formatter = JSONFormatter({"service": "api", "user": "default"})
    fields = json.loads(formatter.format(make_record(user="ada")))
    assert {"service": "api", "user": "ada"} == fields["extra"]


def test_location_can_be_left_out() -> None:
    fields = json.loads(JSONFormatter(include_location=False).format(make_record()))
    assert "path" not in fields
    assert "line" not in fields


@settings(max_examples=200, deadline=None)
@given(message=st.text(), value=st.text())
def test_any_text_stays_on_one_line_and_round_trips(message: str, value: str) -> None:
    line = JSONFormatter().format(make_record(message, (), note=value))
    assert 1 == len(line.splitlines())
    [decoded] = list(iter_jsonl([line]))
    assert (message, value) == (decoded.message, decoded.extra["note"])


_UNDECODABLE = b"report-\xff.csv".decode("utf-8", "surrogateescape")  # os.listdir() on a non-UTF-8 name


def test_lone_surrogates_in_message_args_and_extras_are_kept_as_escapes() -> None:
    record = make_record("opened %s " + _UNDECODABLE, (_UNDECODABLE,), file=_UNDECODABLE, **{_UNDECODABLE: 1})
    fields = json.loads(JSONFormatter().format(record))
    assert "opened report-\\udcff.csv report-\\udcff.csv" == fields["message"]
    assert {"file": "report-\\udcff.csv", "report-\\udcff.csv": 1} == fields["extra"]


def test_a_record_with_a_lone_surrogate_reaches_a_utf8_stream(tmp_path: Any) -> None:
    handler = logging.FileHandler(tmp_path / "out.jsonl", encoding="utf-8")
    handler.setFormatter(JSONFormatter())
    logger = logging.getLogger("test.json.surrogate")
    logger.addHandler(handler)
    logger.propagate = False
    logger.warning("opened %s", _UNDECODABLE)
    handler.close()
    [record] = list(iter_jsonl((tmp_path / "out.jsonl").read_bytes().splitlines()))
    assert "opened report-\\udcff.csv" == record.message


class BraceRecord(logging.LogRecord):
    """A LogRecord subclass as some applications use: its own message style and a computed field."""

    def getMessage(self) -> str:
        return str(self.msg).format(*(self.args or ()))

    @property
    def levelname(self) -> str:
        return "NOTICE" if self.levelno == logging.INFO else logging.getLevelName(self.levelno)

    @levelname.setter
    def levelname(self, value: str) -> None:
        pass


def test_record_subclasses_are_read_through_their_own_attributes_and_message() -> None:
    record = BraceRecord("app.api", logging.INFO, "/src/app/api.py", 7, "user {}", ("ada",), None)
    record.user = "ada"
    fields = json.loads(JSONFormatter().format(record))
    assert ("user ada", "NOTICE", {"user": "ada"}) == (fields["message"], fields["level_name"], fields["extra"])


@settings(max_examples=100, deadline=None)
@given(
    message=st.text(max_size=20),
    extra=st.dictionaries(st.text("abcxyz_", max_size=6).map(lambda key: "x" + key), st.integers()),
    correlation_id=st.none() | st.text(max_size=8),
    location=st.booleans(),
)
def test_plain_records_and_subclass_records_format_alike(
    message: str, extra: dict[str, int], correlation_id: str | None, location: bool
) -> None:
    plain = make_record(message, (), **extra)
    if correlation_id is not None:
        plain.correlation_id = correlation_id

    class Subclass(logging.LogRecord):
        pass

    sub = Subclass("app.api", logging.ERROR, "/src/app/api.py", 7, message, (), None)
    sub.__dict__.update(plain.__dict__)
    formatter = JSONFormatter({"service": "api"}, include_location=location)
    assert formatter.format(plain) == formatter.format(sub)


def test_a_standard_attribute_set_again_after_the_extras_is_still_read() -> None:
    record = make_record(user="ada")
    expected = JSONFormatter().format(record)
    levelname = record.levelname
    del record.levelname
    record.levelname = levelname
    assert expected == JSONFormatter().format(record)


def test_a_record_missing_a_standard_attribute_fails_as_with_attribute_access() -> None:
    record = make_record()
    del record.levelno
    with pytest.raises(AttributeError, match="levelno"):
        JSONFormatter().format(record)


def test_a_message_that_cannot_be_formatted_is_described_not_lost() -> None:
    fields = json.loads(JSONFormatter().format(make_record("%d items", ("many",))))
    assert fields["message"].startswith("'%d items' % ('many',) [message formatting failed: TypeError")


def test_lines_formatted_by_many_threads_at_once_stay_intact() -> None:
    formatter = JSONFormatter()
    results: dict[int, list[str]] = {}

    class Slow:
        def __repr__(self) -> str:
            return "slow"  # called back from the encoder: lets other threads run mid-line

    def work(worker: int) -> None:
        results[worker] = [
            formatter.format(make_record("worker %d line %d " + "x" * (n % 50) * 40, (worker, n), obj=Slow()))
            for n in range(300)
        ]

    threads = [threading.Thread(target=work, args=(worker,)) for worker in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    for worker in range(8):
        messages = [json.loads(line)["message"] for line in results[worker]]
        assert [f"worker {worker} line {n} " + "x" * (n % 50) * 40 for n in range(300)] == messages


def test_a_huge_line_is_formatted_whole_and_the_next_one_too() -> None:
    formatter = JSONFormatter()
    huge = "y" * 200_000
    assert huge == json.loads(formatter.format(make_record(huge, ())))["message"]
    assert "small" == json.loads(formatter.format(make_record("small", ())))["message"]


def test_a_patched_get_message_is_respected_like_stdlib_formatter(monkeypatch: pytest.MonkeyPatch) -> None:
    stdlib = logging.LogRecord.getMessage

    def masked(record: logging.LogRecord) -> str:
        return stdlib(record).replace("hunter2", "***")

    monkeypatch.setattr(logging.LogRecord, "getMessage", masked)
    record = logging.LogRecord("t", logging.INFO, "f.py", 1, "password=%s", ("hunter2",), None)
    assert "password=***" == logging.Formatter().format(record)
    assert "password=***" == json.loads(JSONFormatter().format(record))["message"]


def test_iso_time_is_right_for_the_first_record_of_a_process_even_past_2262() -> None:
    import subprocess

    code = (
        "import logging, json; from stalwart.monitoring import JSONFormatter;"
        "r = logging.LogRecord('t', 20, 'f.py', 1, 'm', (), None); r.created = 2**63 / 1e9;"
        "print(json.loads(JSONFormatter().format(r))['ts'])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.startswith("2262-04-11T23:47:16.")


def test_a_bare_make_log_record_still_decodes_as_a_core_record() -> None:
    record = logging.makeLogRecord({"msg": "bare"})  # name and levelno are None
    decoded = Record.from_json(JSONFormatter().format(record))
    assert ("bare", 0, "") == (decoded.message, decoded.level, decoded.logger)
