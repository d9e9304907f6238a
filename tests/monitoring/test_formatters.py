"""Every text formatter's output parses back to the record's fields; user data cannot forge records."""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stalwart.monitoring import (
    CONTINUATION,
    DashboardFormatter,
    DebugFormatter,
    JSONFormatter,
    MultilineFormatter,
    PerformanceFormatter,
    StructuredFormatter,
)

_LOGFMT_PAIR = re.compile(r'([^\s=]+)=("(?:[^"\\]|\\.)*"|[^\s"]*)')
_UNESCAPE = re.compile(r"\\(x[0-9a-f]{2}|u[0-9a-f]{4}|.)", re.DOTALL)
_SIMPLE = {"n": "\n", "r": "\r", "t": "\t"}
# What a block's continuation line holds, by its mark (a message line has none).
_MARKS = {"+ ": "extra", "! ": "traceback", "^ ": "stack"}


def _unescape(text: str) -> str:
    r"""Read escape_line's escapes back; any other escaped character (\\, \|, \], \", \+ ...) is itself."""

    def one(match: re.Match[str]) -> str:
        code = match.group(1)
        if code in _SIMPLE:
            return _SIMPLE[code]
        if len(code) > 1:
            return chr(int(code[1:], 16))
        return code

    return _UNESCAPE.sub(one, text)


def _split_unescaped(text: str, separator: str, parts: int) -> list[str]:
    """Split ``text`` at ``separator`` where it is not escaped, into at most ``parts`` pieces."""
    pieces: list[str] = []
    start = index = 0
    while index < len(text) and len(pieces) < parts - 1:
        if text[index] == "\\":
            index += 2
        elif text.startswith(separator, index):
            pieces.append(text[start:index])
            index += len(separator)
            start = index
        else:
            index += 1
    return [*pieces, text[start:]]


def parse_body(lines: list[str]) -> dict[str, list[str]]:
    """Sort a block's continuation lines (as split_blocks returns them) by what they hold, unescaped."""
    parts: dict[str, list[str]] = {"message": [], "extra": [], "traceback": [], "stack": []}
    for line in lines:
        kind = _MARKS.get(line[:2])
        if kind is None:
            parts["message"].append(_unescape(line))
        else:
            # Extra lines are logfmt pairs, with logfmt's own quoting: parse_logfmt reads them.
            parts[kind].append(line[2:] if kind == "extra" else _unescape(line[2:]))
    return parts


def parse_dashboard(line: str) -> list[str]:
    assert 1 == len(line.splitlines())
    time_col, level, logger, correlation, message = _split_unescaped(line, " | ", 5)
    return [time_col, level.rstrip(), _unescape(logger), _unescape(correlation), _unescape(message)]


# ts, level, logger (no unescaped space or colon), [correlation id (no unescaped "]")], first message line.
_MULTILINE_HEADER = re.compile(r"([^ ]+) ([^ ]+) ((?:\\.|[^\\ :])*)(?: \[((?:\\.|[^\\\]])*)\])?: (.*)", re.DOTALL)


def parse_multiline(text: str) -> dict[str, Any]:
    """A reader's view of one MultilineFormatter block."""
    (block,) = split_blocks(text)
    match = _MULTILINE_HEADER.fullmatch(block[0])
    assert match is not None, block[0]
    _ts, level, logger, correlation_id, first = match.groups()
    body = parse_body(block[1:])
    return {
        "level": _unescape(level),
        "logger": _unescape(logger),
        "correlation_id": None if correlation_id is None else _unescape(correlation_id),
        "message": "\n".join([_unescape(first), *body["message"]]),
        "traceback": body["traceback"],
        "stack": body["stack"],
    }


def parse_logfmt(line: str) -> dict[str, str]:
    assert "\n" not in line
    out = {}
    for key, value in _LOGFMT_PAIR.findall(line):
        out[key] = _unescape(value[1:-1]) if value.startswith('"') else value
    return out


def split_blocks(text: str) -> list[list[str]]:
    """A reader's view of a block format: a line not starting with CONTINUATION starts a record."""
    blocks: list[list[str]] = []
    for line in text.splitlines():
        if line.startswith(CONTINUATION):
            blocks[-1].append(line[len(CONTINUATION) :])
        else:
            blocks.append([line])
    return blocks


def make_record(msg: Any = "hello %s", args: tuple[Any, ...] = ("world",), **extra: Any) -> logging.LogRecord:
    record = logging.LogRecord("app.db", logging.WARNING, "/src/app/db.py", 42, msg, args, None, func="query")
    record.__dict__.update(extra)
    return record


def with_exception(record: logging.LogRecord) -> logging.LogRecord:
    try:
        raise ValueError("boom\nsecond line")
    except ValueError:
        record.exc_info = sys.exc_info()
    return record


def test_structured_formatter_output_parses_back_to_the_fields() -> None:
    record = make_record(correlation_id="req-9", user="ada lovelace", count=3, tags=["a", "b"], ok=True)
    fields = parse_logfmt(StructuredFormatter().format(record))
    assert {
        "level": "WARNING",
        "logger": "app.db",
        "correlation_id": "req-9",
        "msg": "hello world",
        "user": "ada lovelace",
        "count": "3",
        "tags": '["a","b"]',
        "ok": "true",
    } == {k: v for k, v in fields.items() if k != "ts"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", fields["ts"])


def test_structured_formatter_keeps_the_traceback_on_one_line() -> None:
    line = StructuredFormatter().format(with_exception(make_record()))
    fields = parse_logfmt(line)
    assert fields["exc"].startswith("Traceback (most recent call last):")
    assert fields["exc"].endswith("ValueError: boom\nsecond line")


@settings(max_examples=200, deadline=None)
@given(message=st.text(), value=st.text())
def test_structured_formatter_round_trips_any_text(message: str, value: str) -> None:
    line = StructuredFormatter().format(make_record(message, (), note=value))
    assert 1 == len(line.splitlines())
    fields = parse_logfmt(line)
    assert message == fields["msg"]
    assert value == fields["note"]


def test_a_bar_in_the_logger_name_or_correlation_id_never_shifts_a_dashboard_column() -> None:
    record = make_record("hello", (), correlation_id="abc | EVIL | forged")
    record.name = "app | fake"
    columns = re.split(r"(?<!\\) \| ", DashboardFormatter().format(record))
    assert 5 == len(columns)
    assert ["app \\| fake", "abc \\| EVIL \\| forged", "hello"] == columns[2:]


def test_dashboard_formatter_columns_parse_back() -> None:
    record = make_record("a | b\nc", (), correlation_id="req-1")
    time_col, level, logger, correlation, message = parse_dashboard(DashboardFormatter().format(record))
    assert re.fullmatch(r"\d\d:\d\d:\d\d\.\d{6}", time_col)
    assert ("WARNING", "app.db", "req-1") == (level, logger, correlation)
    assert "a | b\nc" == message


def test_dashboard_formatter_shows_a_dash_without_correlation_and_appends_the_traceback() -> None:
    line = DashboardFormatter().format(with_exception(make_record()))
    columns = line.split(" | ", 4)
    assert "-" == columns[3]
    assert _unescape(columns[4]).startswith("hello world\nTraceback")


def test_performance_formatter_parses_back() -> None:
    record = make_record("x %d\ny", (5,))
    created, level, logger, message = PerformanceFormatter().format(record).split(" ", 3)
    assert ("WARNING", "app.db", "x 5\ny") == (level, logger, _unescape(message))
    assert pytest.approx(record.created, abs=1e-6) == float(created)


def test_multiline_formatter_indents_continuation_lines_and_parses_back() -> None:
    record = with_exception(make_record("first\nsecond\r\nthird", (), correlation_id="c1"))
    blocks = split_blocks(MultilineFormatter().format(record))
    assert 1 == len(blocks)
    header, *body = blocks[0]
    assert re.fullmatch(r"\S+Z WARNING app\.db \[c1\]: first", header)
    parts = parse_body(body)
    assert ["second\r", "third"] == parts["message"]  # only \n starts a line: the \r is kept, escaped
    assert "Traceback (most recent call last):" == parts["traceback"][0]
    assert "second line" == parts["traceback"][-1]


_FORGERIES = [
    "ok\n2026-01-01T00:00:00.000000Z CRITICAL app.auth: admin logged in",
    "ok\r2026-01-01T00:00:00.000000Z CRITICAL forged",
    "ok\u2028forged",
    "ok\u2029forged",
    "ok\x85forged",
    "ok\x0bforged",
    "ok\x0cforged",
    "ok\x1cforged\x1dmore\x1eagain",
    "ok\r\n\r\nforged",
    "\x1b[2J\x1b[1;1Hterminal takeover",
]


@pytest.mark.parametrize("payload", _FORGERIES)
@pytest.mark.parametrize("formatter", [MultilineFormatter(), DebugFormatter()], ids=["multiline", "debug"])
def test_block_formatters_never_let_a_message_start_a_record(
    payload: str, formatter: logging.Formatter
) -> None:
    text = formatter.format(make_record(payload, (), note=payload))
    assert 1 == len(split_blocks(text))
    assert "\x1b" not in text


@pytest.mark.parametrize("payload", _FORGERIES)
@pytest.mark.parametrize(
    "formatter",
    [StructuredFormatter(), DashboardFormatter(), PerformanceFormatter()],
    ids=["structured", "dashboard", "performance"],
)
def test_single_line_formatters_never_break_a_line(payload: str, formatter: logging.Formatter) -> None:
    text = formatter.format(make_record(payload, (), note=payload))
    assert 1 == len(text.splitlines())
    assert "\x1b" not in text


@settings(max_examples=200, deadline=None)
@given(message=st.text())
def test_multiline_formatter_keeps_any_message_in_one_block(message: str) -> None:
    text = MultilineFormatter().format(make_record(message, ()))
    blocks = split_blocks(text)
    assert 1 == len(blocks)


def test_debug_formatter_header_and_context_parse_back() -> None:
    record = make_record(correlation_id="req-7", user="ada", attempt=2)
    header, *body = split_blocks(DebugFormatter().format(record))[0]
    match = re.fullmatch(
        r"(\S+) (\w+) (\S+) (\S+):(\d+) in (\w+)\(\) pid=(\d+)\((\w+)\) "
        r"thread=(\w+)\((\d+)\) correlation_id=(\S+)",
        header,
    )
    assert match is not None
    assert ("WARNING", "app.db", "/src/app/db.py", "42", "query", "req-7") == (
        match.group(2), match.group(3), match.group(4), match.group(5), match.group(6), match.group(11),
    )  # fmt: skip
    assert {"message": ["hello world"], "extra": ["user=ada", "attempt=2"], "traceback": [], "stack": []} == (
        parse_body(body)
    )


def test_a_message_that_fails_to_format_is_kept_with_the_error() -> None:
    text = StructuredFormatter().format(make_record("%d items", ("x",)))
    assert "message formatting failed: TypeError" in parse_logfmt(text)["msg"]


def test_formatters_work_from_dict_config(tmp_path: Any) -> None:
    import logging.config

    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {"s": {"()": "stalwart.monitoring.StructuredFormatter"}},
            "handlers": {
                "f": {"class": "logging.FileHandler", "filename": str(tmp_path / "x.log"), "formatter": "s"}
            },
            "loggers": {"test.fmt.dict": {"handlers": ["f"], "level": "INFO", "propagate": False}},
        }
    )
    logging.getLogger("test.fmt.dict").info("via dictConfig", extra={"k": "v"})
    for handler in logging.getLogger("test.fmt.dict").handlers:
        handler.flush()
    fields = parse_logfmt((tmp_path / "x.log").read_text().strip())
    assert ("via dictConfig", "v") == (fields["msg"], fields["k"])


_UNDECODABLE = b"report-\xff.csv".decode("utf-8", "surrogateescape")  # os.listdir() on a non-UTF-8 name


@pytest.mark.parametrize(
    "formatter",
    [StructuredFormatter(), DashboardFormatter(), PerformanceFormatter(), MultilineFormatter(), DebugFormatter()],
    ids=["structured", "dashboard", "performance", "multiline", "debug"],
)
def test_lone_surrogates_are_escaped_so_the_line_can_be_written_as_utf8(formatter: logging.Formatter) -> None:
    record = make_record("opened %s", (_UNDECODABLE,), file=_UNDECODABLE)
    text = formatter.format(record)
    assert "report-\\udcff.csv" in text.encode("utf-8").decode("utf-8")


def test_structured_formatter_extras_cannot_forge_its_own_fields() -> None:
    record = make_record("payment failed", (), level="INFO", ts="1999-01-01T00:00:00Z", logger="audit", exc="none")
    record.levelno, record.levelname = logging.ERROR, "ERROR"
    fields = parse_logfmt(StructuredFormatter().format(record))
    assert ("ERROR", "app.db", "payment failed") == (fields["level"], fields["logger"], fields["msg"])
    assert not fields["ts"].startswith("1999")
    forged = {"extra.level": "INFO", "extra.ts": "1999-01-01T00:00:00Z", "extra.logger": "audit", "extra.exc": "none"}
    assert forged == {k: v for k, v in fields.items() if k.startswith("extra.")}
    assert "exc" not in fields


@pytest.mark.parametrize(
    "formatter",
    [PerformanceFormatter(), DashboardFormatter(), StructuredFormatter()],
    ids=["performance", "dashboard", "structured"],
)
def test_a_newline_in_the_logger_name_cannot_forge_a_line(formatter: logging.Formatter) -> None:
    record = make_record("hello", ())
    record.name = "tenant.acme\n1700000000.000000 CRITICAL admin"
    assert 1 == len(formatter.format(record).splitlines())


@pytest.mark.parametrize("formatter", [StructuredFormatter(), DebugFormatter()], ids=["structured", "debug"])
def test_extras_whose_names_meet_once_made_logfmt_safe_are_all_kept(formatter: logging.Formatter) -> None:
    record = make_record("login", (), **{"user id": "alice", "user_id": "mallory", "level": "x", "extra.level": "y"})
    text = formatter.format(record)
    lines = [line.removeprefix(CONTINUATION).removeprefix("+ ") for line in text.splitlines()]
    fields = parse_logfmt(" ".join(lines))
    assert ("alice", "mallory") == (fields["user_id"], fields["user_id.2"])
    if isinstance(formatter, StructuredFormatter):
        assert ("x", "y") == (fields["extra.level"], fields["extra.level.2"])


_ALL_FORMATTERS = [
    StructuredFormatter(),
    DashboardFormatter(),
    PerformanceFormatter(),
    MultilineFormatter(),
    DebugFormatter(),
]
_ALL_IDS = ["structured", "dashboard", "performance", "multiline", "debug"]
_NAMES = st.text()


@settings(max_examples=200, deadline=None)
@given(message=st.text(), name=_NAMES, correlation_id=st.text())
def test_dashboard_formatter_round_trips_any_text(message: str, name: str, correlation_id: str) -> None:
    record = make_record(message, (), correlation_id=correlation_id)
    record.name = name
    columns = parse_dashboard(DashboardFormatter().format(record))
    assert ["WARNING", name, correlation_id, message] == columns[1:]
    unset = make_record(message, ())
    assert "-" == parse_dashboard(DashboardFormatter().format(unset))[3]
    assert "-" != DashboardFormatter().format(make_record(message, (), correlation_id="-")).split(" | ")[3]


@settings(max_examples=200, deadline=None)
@given(message=st.text(), name=_NAMES)
def test_performance_formatter_round_trips_any_text(message: str, name: str) -> None:
    record = make_record(message, ())
    record.name = name
    line = PerformanceFormatter().format(record)
    assert 1 == len(line.splitlines())
    _created, level, logger, text = line.split(" ", 3)
    assert ("WARNING", name, message) == (_unescape(level), _unescape(logger), _unescape(text))


@settings(max_examples=200, deadline=None)
@given(message=st.text(), name=_NAMES, correlation_id=st.text() | st.none(), stack=st.text())
def test_multiline_formatter_round_trips_any_text(
    message: str, name: str, correlation_id: str | None, stack: str
) -> None:
    record = make_record(message, (), correlation_id=correlation_id)
    record.name = name
    record.stack_info = stack
    parsed = parse_multiline(MultilineFormatter().format(record))
    assert ("WARNING", name, correlation_id) == (parsed["level"], parsed["logger"], parsed["correlation_id"])
    assert message == parsed["message"]
    assert [] == parsed["traceback"]
    assert stack == "\n".join(parsed["stack"])


@settings(max_examples=200, deadline=None)
@given(message=st.text(), value=st.text())
def test_debug_formatter_round_trips_any_message_and_extra(message: str, value: str) -> None:
    (block,) = split_blocks(DebugFormatter().format(make_record(message, (), note=value)))
    parts = parse_body(block[1:])
    assert message == "\n".join(parts["message"])
    assert {"note": value} == parse_logfmt(parts["extra"][0])
    assert 1 == len(parts["extra"])


_FAKE_FIELDS = "hi\nuser=admin\n+ role=root\n! Traceback (most recent call last):\n^ forged stack"


def test_a_message_cannot_pass_for_a_debug_field_traceback_or_stack_line() -> None:
    (block,) = split_blocks(DebugFormatter().format(make_record(_FAKE_FIELDS, (), user="bob")))
    parts = parse_body(block[1:])
    assert _FAKE_FIELDS == "\n".join(parts["message"])
    assert (["user=bob"], [], []) == (parts["extra"], parts["traceback"], parts["stack"])


def test_a_message_cannot_pass_for_a_multiline_traceback_and_the_real_one_is_marked() -> None:
    parsed = parse_multiline(MultilineFormatter().format(with_exception(make_record(_FAKE_FIELDS, ()))))
    assert _FAKE_FIELDS == parsed["message"]
    assert "Traceback (most recent call last):" == parsed["traceback"][0]
    assert "second line" == parsed["traceback"][-1]


def test_multiline_and_dashboard_formatters_write_the_stack_when_asked() -> None:
    record = make_record("here", ())
    record.stack_info = "Stack (most recent call last):\n  File \"x.py\", line 1, in <module>"
    parsed = parse_multiline(MultilineFormatter().format(record))
    assert record.stack_info.splitlines() == parsed["stack"]
    assert f"here\n{record.stack_info}" == parse_dashboard(DashboardFormatter().format(record))[4]


def test_a_bracket_in_the_correlation_id_cannot_end_the_multiline_tag() -> None:
    record = make_record("user bob denied", (), correlation_id="req-1]: user admin granted root [x")
    parsed = parse_multiline(MultilineFormatter().format(record))
    assert ("req-1]: user admin granted root [x", "user bob denied") == (
        parsed["correlation_id"], parsed["message"],
    )  # fmt: skip


@pytest.mark.parametrize("formatter", [MultilineFormatter(), DebugFormatter()], ids=["multiline", "debug"])
@pytest.mark.parametrize("payload", _FORGERIES)
def test_a_level_name_cannot_start_a_record_in_a_block_formatter(formatter: logging.Formatter, payload: str) -> None:
    record = make_record("hello", ())
    record.levelname = payload
    assert 1 == len(split_blocks(formatter.format(record)))


@pytest.mark.parametrize("formatter", _ALL_FORMATTERS, ids=_ALL_IDS)
def test_a_bare_make_log_record_is_formatted(formatter: logging.Formatter) -> None:
    record = logging.makeLogRecord({"msg": "from a socket", "levelno": logging.INFO})
    assert "from a socket" in formatter.format(record)


@pytest.mark.parametrize("formatter", _ALL_FORMATTERS, ids=_ALL_IDS)
def test_a_backslash_is_escaped_so_the_output_is_unambiguous(formatter: logging.Formatter) -> None:
    windows_path, newline_and_tab = make_record("C:\\new\\table", ()), make_record("C:\new\table", ())
    newline_and_tab.created = windows_path.created
    assert formatter.format(windows_path) != formatter.format(newline_and_tab)


@pytest.mark.parametrize("formatter", _ALL_FORMATTERS, ids=_ALL_IDS)
def test_terminal_controls_and_bidi_overrides_are_escaped(formatter: logging.Formatter) -> None:
    text = formatter.format(make_record("a\x9b2Jb\u202egnp.exe", ()))
    assert "\x9b" not in text
    assert "\u202e" not in text


@pytest.mark.parametrize("formatter", [StructuredFormatter(), DebugFormatter()], ids=["structured", "debug"])
def test_an_extra_whose_key_is_no_str_is_written(formatter: logging.Formatter) -> None:
    record = make_record("odd extra", ())
    vars(record)[1] = "one"  # type: ignore[index]  # logging accepts extra={1: ...}
    assert "1=one" in formatter.format(record)


class _Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("str")

    def __repr__(self) -> str:
        raise RuntimeError("repr")


@pytest.mark.parametrize("formatter", _ALL_FORMATTERS, ids=_ALL_IDS)
def test_an_argument_whose_str_and_repr_raise_still_leaves_a_record(formatter: logging.Formatter) -> None:
    text = formatter.format(make_record("value %s", (_Unprintable(),)))
    assert "message formatting failed: RuntimeError: str" in _unescape(text)
    assert "(<" in text
    assert "_Unprintable object at 0x" in text


class _DetachedInstance:
    """An ORM object detached from its session: its repr raises."""

    def __repr__(self) -> str:
        raise RuntimeError("DetachedInstanceError")


class _BadKey:
    def __str__(self) -> str:
        raise RuntimeError("bad key")

    __repr__ = __str__


_HUGE = 10**5000  # str() refuses ints past 4300 digits


@pytest.mark.parametrize("formatter", [*_ALL_FORMATTERS, JSONFormatter()], ids=[*_ALL_IDS, "json"])
def test_extras_whose_str_or_repr_raise_still_leave_a_record(formatter: logging.Formatter) -> None:
    record = make_record("kept", (), user=_DetachedInstance(), count=_HUGE)
    vars(record)[_BadKey()] = "value of a bad key"  # type: ignore[index]
    text = formatter.format(record)
    assert "kept" in text
    if isinstance(formatter, (StructuredFormatter, DebugFormatter, JSONFormatter)):
        assert "_DetachedInstance object at 0x" in text
        assert "value of a bad key" in text
