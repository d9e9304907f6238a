from __future__ import annotations

import logging
import math

import pytest
from stalwart.core import (
    Record,
    RecordEncodeError,
    StalwartError,
    decode_batch,
    decode_jsonl,
    encode_batch,
    encode_jsonl,
)

FORMAT = (
    "%(asctime)s.%(msecs)03d %(levelname)s %(levelno)d %(name)s %(process)d %(processName)s "
    "%(thread)d %(threadName)s %(module)s %(funcName)s %(lineno)d %(filename)s %(pathname)s "
    "| %(message)s"
)


def _capture(logger_name: str, emit: object) -> logging.LogRecord:
    """Log through a real logger and return the LogRecord its handler received."""
    captured: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            captured.append(record)

    logger = logging.getLogger(logger_name)
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(Keep())
    assert callable(emit)
    emit(logger)
    assert 1 == len(captured)
    return captured[0]


def test_message_is_formatted_with_args() -> None:
    original = _capture("bridge.args", lambda log: log.info("%s has %d items", "cart", 3))
    record = Record.from_logging(original)
    assert "cart has 3 items" == record.message
    assert logging.INFO == record.level
    assert "bridge.args" == record.logger
    assert original.process == record.pid
    assert original.thread == record.thread
    assert original.funcName == record.func
    assert original.lineno == record.line
    assert original.module == record.module


def test_stdlib_formatter_renders_round_tripped_record_identically() -> None:
    def emit(log: logging.Logger) -> None:
        try:
            raise ValueError("boom")
        except ValueError:
            log.error("failed %s", "job", exc_info=True, stack_info=True)

    original = _capture("bridge.identical", emit)
    formatter = logging.Formatter(FORMAT)
    expected = formatter.format(original)
    # The trip through the wire format must not change a single character.
    back = decode_batch(encode_batch([Record.from_logging(original)]))[0].to_logging()
    assert expected == logging.Formatter(FORMAT).format(back)
    assert "ValueError: boom" in expected
    assert "Stack (most recent call last)" in expected


def test_exception_text_is_kept() -> None:
    def emit(log: logging.Logger) -> None:
        try:
            1 / 0  # noqa: B018
        except ZeroDivisionError:
            log.exception("division")

    record = Record.from_logging(_capture("bridge.exc", emit))
    assert record.exc is not None
    assert record.exc.startswith("Traceback (most recent call last)")
    assert "ZeroDivisionError" in record.exc
    assert record.exc == record.to_logging().exc_text


class _Opaque:
    def __repr__(self) -> str:
        return "<Opaque 42>"


def test_extras_keep_json_values_and_repr_the_rest() -> None:
    extra = {
        "user": "ada",
        "nested": {"ids": (1, 2), "deep": {"ok": True}},
        "obj": _Opaque(),
        "nan": math.nan,
        "big": 2**70,
        "raw": b"\x00\x01",
        "correlation_id": "req-7",
    }
    record = Record.from_logging(_capture("bridge.extra", lambda log: log.info("hi", extra=extra)))
    assert "ada" == record.extra["user"]
    assert {"ids": [1, 2], "deep": {"ok": True}} == record.extra["nested"]
    assert "<Opaque 42>" == record.extra["obj"]
    assert "nan" == record.extra["nan"]
    assert repr(2**70) == record.extra["big"]
    assert repr(b"\x00\x01") == record.extra["raw"]
    assert "req-7" == record.correlation_id
    assert "correlation_id" not in record.extra
    # Extras come back as attributes, so "%(user)s" formats as before.
    back = record.to_logging()
    assert "ada req-7" == logging.Formatter("%(user)s %(correlation_id)s").format(back)


def test_unformattable_message_is_kept_with_the_error() -> None:
    original = _capture("bridge.badargs", lambda log: log.info("%d items", "many"))
    record = Record.from_logging(original)
    assert "'%d items'" in record.message
    assert "'many'" in record.message
    assert "TypeError" in record.message


def test_kind_and_seq_are_set_by_the_caller() -> None:
    original = _capture("bridge.kind", lambda log: log.info("tick"))
    record = Record.from_logging(original, kind="heartbeat", seq=9)
    assert ("heartbeat", 9) == (record.kind, record.seq)


def test_trace_level_prints_its_name() -> None:
    record = Record(ts_ns=0, level=5, logger="t", message="m")
    assert "TRACE" == record.to_logging().levelname


def test_create_stamps_time_process_and_thread() -> None:
    record = Record.create(logging.WARNING, "c", "made", extra={"k": {1: "v"}})
    back = record.to_logging()
    assert logging.WARNING == back.levelno
    assert {"k": {"1": "v"}} == record.extra
    assert record.ts_ns > 0
    assert record.thread_name


def test_record_is_immutable() -> None:
    record = Record(ts_ns=0, level=20, logger="x", message="m")
    with pytest.raises(AttributeError):
        record.message = "changed"  # type: ignore[misc]


def test_a_record_already_formatted_by_a_handler_gains_no_extras() -> None:
    original = _capture("bridge.formatted", lambda log: log.info("plain %s", "text"))
    logging.Formatter("%(asctime)s %(message)s").format(original)  # adds message and asctime
    record = Record.from_logging(original)
    assert {} == record.extra
    assert "plain text" == record.message


def test_time_fields_format_identically_for_many_real_records() -> None:
    """asctime and msecs survive the round trip for every record, not just most (float error)."""
    formatter = logging.Formatter("%(asctime)s,%(msecs)03d %(created).3f")
    logger = logging.getLogger("bridge.time")
    mismatches = []
    for i in range(20_000):
        original = logger.makeRecord("bridge.time", logging.INFO, __file__, 1, "m %d", (i,), None)
        back = decode_batch(encode_batch([Record.from_logging(original)]))[0].to_logging()
        expected, got = formatter.format(original), formatter.format(back)
        if expected != got:
            mismatches.append((expected, got))
    assert [] == mismatches


def test_created_times_at_the_edge_of_a_second_keep_their_second() -> None:
    for created in (1795429884.9999999, 1795429884.0, 1795429884.9995, 0.9999999999):
        original = logging.makeLogRecord({"msg": "edge", "created": created, "msecs": 0.0})
        original.msecs = float(int((created - int(created)) * 1000))
        back = Record.from_logging(original).to_logging()
        assert int(created) == int(back.created)
        assert original.msecs == back.msecs


def test_lone_surrogates_are_kept_as_escapes_never_lost() -> None:
    name = b"report-\xff.csv".decode("utf-8", "surrogateescape")
    original = _capture("bridge.surrogate", lambda log: log.warning("opened %s", name, extra={"file": name}))
    record = Record.from_logging(original)
    assert "report-\\udcff.csv" == record.extra["file"]
    (back,) = decode_batch(encode_batch([record]))
    assert "opened report-\\udcff.csv" == back.message
    assert "opened report-\\udcff.csv" == Record.from_json(record.to_json()).message
    assert [back.message] == [r.message for r in decode_jsonl(encode_jsonl([record]))]


def test_hand_built_records_with_unencodable_extras_are_written_as_repr() -> None:
    record = Record(ts_ns=1, level=20, logger="x", message="m", extra={"obj": _Opaque(), "big": 2**70})
    (back,) = decode_batch(encode_batch([record]))
    assert {"obj": "<Opaque 42>", "big": repr(2**70)} == back.extra


def test_a_number_no_codec_can_carry_raises_record_encode_error() -> None:
    record = Record(ts_ns=2**70, level=20, logger="x", message="m")
    with pytest.raises(RecordEncodeError, match="cannot encode record"):
        encode_batch([record])
    assert isinstance(RecordEncodeError("x"), StalwartError)
