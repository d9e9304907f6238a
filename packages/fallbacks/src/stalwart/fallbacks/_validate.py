"""Parsing a file's bytes to decide whether they are valid JSON, JSON Lines or CSV."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal, NewType

import msgspec
from stalwart.fallbacks._tagged import MARKER_BYTES, TagError, decode_types

__all__ = [
    "FORMATS",
    "NESTED_TOO_DEEPLY",
    "TORN_LAST_LINE",
    "UTF8_BOM",
    "CsvFormat",
    "FileFormat",
    "Format",
    "Problem",
    "bom_problem",
    "csv_format",
    "csv_rotation_format",
    "decode_json_line",
    "duplicate_column",
    "find_problem",
    "json_error_offset",
    "strict_json_decoder",
    "strict_json_loads",
    "torn_last_line",
    "torn_line_is_whole",
]

#: The file formats this package reads and writes.
FileFormat = Literal["json", "jsonl", "csv"]
FORMATS: tuple[FileFormat, ...] = ("json", "jsonl", "csv")
#: CSV with a delimiter other than ``,``: ``"csv"`` followed by the delimiter (see :func:`csv_format`).
CsvFormat = NewType("CsvFormat", str)
#: What a file's content is validated as (backup rotation, the validity cache).
Format = FileFormat | CsvFormat


_DECODER = msgspec.json.Decoder()

#: Delimiters csv.writer accepts but whose files no reader can split back into the same cells.
_UNUSABLE_DELIMITERS = frozenset('"\r\n')


def csv_format(delimiter: str) -> Format:
    r"""Return the format that validates CSV separated by ``delimiter`` (``"csv"`` for ``,``).

    Raises:
        ValueError: ``delimiter`` is not one character, or is ``"``, ``\r`` or
            ``\n`` (the quote character and line ends: a file written with them
            cannot be read back).

    """
    if delimiter == ",":
        return "csv"
    if len(delimiter) != 1:
        raise ValueError(f"a CSV delimiter is one character, not {delimiter!r}")
    if delimiter in _UNUSABLE_DELIMITERS:
        raise ValueError(f"a CSV delimiter cannot be the quote character or a line end, not {delimiter!r}")
    return CsvFormat("csv" + delimiter)


#: What :func:`csv_rotation_format` puts before the delimiter (also read in log messages).
_AS_WRITTEN = "csv as written (new delimiter "
#: Delimiters a CSV file may have been written with before a later write used another one.
_USUAL_DELIMITERS = (",", ";", "\t", "|")


def csv_rotation_format(delimiter: str) -> Format:
    r"""Return the format that decides whether ``write_csv`` may back up the current file.

    The current file must be valid CSV under the delimiter it was written with,
    which is not recorded and may differ from ``delimiter`` (the new write's). A
    NUL byte is damage. If ``delimiter`` splits the file's header into two fields
    or more, the file must parse under it; else it is valid if it parses under one
    of ``,`` ``;`` tab ``|`` that splits the header so (widest first) and
    ``csv.writer`` under it writes its rows back byte for byte; else (one column)
    it must parse under ``delimiter``.

    Raises:
        ValueError: ``delimiter`` is not one character, or is ``"``, ``\r`` or ``\n``.

    """
    csv_format(delimiter)
    return CsvFormat(f"{_AS_WRITTEN}{delimiter})")


_BYTE_POSITION = re.compile(r"\(byte (\d+)\)")


@dataclass(frozen=True)
class Problem:
    """The first thing wrong with a file's content.

    Attributes:
        reason: What the parser said.
        offset: Byte offset of the problem, when known.
        line: 1-based line number, for line-based formats.

    """

    reason: str
    offset: int | None = None
    line: int | None = None


def json_error_offset(message: str, data_length: int) -> int | None:
    """Return the byte offset msgspec reports in ``message`` (the end, for truncation)."""
    match = _BYTE_POSITION.search(message)
    if match:
        return int(match.group(1))
    if "truncated" in message:
        return data_length
    return None


#: A UTF-8 byte order mark. JSON text must not start with one (RFC 8259), and our CSV never does:
#: every reader refuses a file that starts with it (only recover_json skips it, to salvage).
UTF8_BOM = b"\xef\xbb\xbf"


def bom_problem(raw: bytes) -> Problem | None:
    """Return a problem at offset 0 if ``raw`` starts with a UTF-8 byte order mark, else None.

    For CSV: read as text, the mark would silently become part of the first
    column's name (``\ufeffid``); refused as ``read_json`` refuses it in JSON.
    """
    if not raw.startswith(UTF8_BOM):
        return None
    return Problem(
        "starts with a UTF-8 byte order mark, which is refused as in JSON (it would become part of "
        "the first column's name): remove it, e.g. re-save the file as UTF-8 without BOM",
        offset=0,
        line=1,
    )


def _utf8_problem(raw: bytes, base: int = 0, line: int | None = None) -> Problem | None:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Problem(f"invalid UTF-8: {exc.reason}", offset=base + exc.start, line=line)
    return None


#: Why a document deeper than the decoders' recursion limit is refused (it is no RecursionError to the caller).
NESTED_TOO_DEEPLY = "nested too deeply to decode (deeper than the interpreter's recursion limit)"


def _json_problem(raw: bytes, base: int = 0, line: int | None = None, *, tags: bool = True) -> Problem | None:
    """Return the first problem of one JSON value: its syntax, then (``tags``) a malformed tagged value.

    ``tags``: judge the value as the readers do, which restore tagged values and
    refuse a malformed one (``{"$stalwart": "bytes", "v": "!!"}``): valid JSON
    that :func:`read_json` cannot read must never pass for valid (nor become a backup).
    """
    problem = _json_syntax_problem(raw, base, line)
    if problem is None and tags and MARKER_BYTES in raw:
        problem = _tag_problem(raw, base, line)
    return problem


def _tag_problem(raw: bytes, base: int, line: int | None) -> Problem | None:
    """Return the problem of a malformed tagged value in the valid JSON ``raw``, or None."""
    try:
        decode_types(decode_json_line(_DECODER, raw))
    except (msgspec.DecodeError, TagError) as exc:
        # Where in the value is not known: a line is named by its start, a document by no offset.
        return Problem(str(exc), offset=None if line is None else base, line=line)
    return None


def _json_syntax_problem(raw: bytes, base: int = 0, line: int | None = None) -> Problem | None:
    try:
        # Raw skips over the value without building Python objects, yet checks its syntax.
        msgspec.json.decode(raw, type=msgspec.Raw)
    except RecursionError:
        # Valid JSON or not, nothing here can read it: judged as read_json judges it.
        return Problem(NESTED_TOO_DEEPLY, offset=None, line=line)
    except msgspec.DecodeError as exc:
        if _is_strict_json(raw):
            return None  # valid JSON msgspec refuses, such as an escaped lone surrogate
        message = str(exc)
        offset = json_error_offset(message, len(raw))
        return Problem(message, offset=None if offset is None else base + offset, line=line)
    return _utf8_problem(raw, base, line)


#: Why a non-empty line-based file without a final newline is damaged.
TORN_LAST_LINE = (
    "truncated: the last line has no newline at the end and is not provably whole (a write may have been cut off)"
)


def torn_last_line(raw: bytes) -> Problem | None:
    r"""Return a problem if non-empty line-based ``raw`` does not end with a newline.

    Our writers end every JSON line and CSV row with ``\n``; a file that stops
    elsewhere was cut mid-line, and its last line may still parse (``12`` of ``12345``,
    a CSV cell cut short), so parsing alone cannot tell.
    """
    if not raw or raw.endswith(b"\n"):
        return None
    start = raw.rfind(b"\n") + 1
    return Problem(TORN_LAST_LINE, offset=start, line=raw.count(b"\n") + 1)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def strict_json_decoder() -> json.JSONDecoder:
    """Return a stdlib decoder for ``raw_decode`` that refuses ``NaN`` / ``Infinity`` (not JSON).

    Its ``raw_decode`` raises ``ValueError`` (not ``JSONDecodeError``) for such a constant.
    """
    return json.JSONDecoder(parse_constant=_no_constant)


def strict_json_loads(raw: bytes) -> Any:
    r"""Decode ``raw`` with the stdlib ``json`` module, which follows the JSON grammar exactly.

    It accepts what msgspec refuses although it is valid JSON (an escaped lone
    surrogate such as ``"\ud800"``); ``NaN`` and ``Infinity``, which the stdlib
    allows by default, are refused as they are not JSON.

    Raises:
        ValueError: ``raw`` is not valid UTF-8 JSON (``JSONDecodeError``,
            ``UnicodeDecodeError``, or a constant).
        RecursionError: Nested too deeply for the stdlib parser.

    """
    return json.loads(raw.decode("utf-8"), parse_constant=_no_constant)


def decode_json_line(decoder: msgspec.json.Decoder[Any], line: bytes) -> Any:
    """Decode one JSON line with ``decoder``, or with the stdlib where msgspec refuses valid JSON.

    Raises:
        msgspec.DecodeError: The line is not valid JSON (msgspec's error, with its byte offset),
            or is nested too deeply to decode (:data:`NESTED_TOO_DEEPLY`).

    """
    try:
        return decoder.decode(line)
    except RecursionError as exc:
        # One error type for "this line cannot be read", so no caller lets a RecursionError escape.
        raise msgspec.DecodeError(NESTED_TOO_DEEPLY) from exc
    except msgspec.DecodeError as exc:
        try:
            return strict_json_loads(line)
        except (ValueError, RecursionError):
            raise exc from None


def torn_line_is_whole(line: bytes) -> bool:
    r"""Return True if a JSON line that lost its ``\n`` provably still holds one whole value.

    An object, array, string, ``true``, ``false`` or ``null`` ends with its own
    last byte: if the line is valid JSON (per the stdlib ``json`` module, which
    also accepts what msgspec refuses, such as ``"\ud800"``) and one of those,
    only the newline was lost. A bare number does not prove it (``12`` may be
    ``12345`` cut short), and a line that does not parse was cut inside its
    value: neither is provably whole.
    """
    stripped = line.strip()
    if not stripped or stripped[:1] in b"-0123456789":
        return False
    return _is_strict_json(stripped)


def _jsonl_problem(raw: bytes, tags: bool) -> Problem | None:
    base = 0
    for number, line in enumerate(raw.split(b"\n"), start=1):
        if line.strip():
            problem = _json_problem(line, base, number, tags=tags)
            if problem is not None:
                return problem
        base += len(line) + 1
    torn = torn_last_line(raw)
    if torn is not None and torn.offset is not None:
        tail = raw[torn.offset :]
        if not tail.strip() or torn_line_is_whole(tail):
            return None  # blank (no record to lose), or a whole last record that only lacks its newline
    return torn


def _is_strict_json(line: bytes) -> bool:
    try:
        strict_json_loads(line)
    except (ValueError, RecursionError):
        return False
    return True


def _line_offsets(raw: bytes) -> list[int]:
    offsets = [0]
    position = raw.find(b"\n")
    while position != -1:
        offsets.append(position + 1)
        position = raw.find(b"\n", position + 1)
    return offsets


def duplicate_column(header: list[str]) -> str | None:
    """Return a column name the CSV header holds twice (a reader would drop a cell), or None."""
    if len(set(header)) == len(header):
        return None
    seen: set[str] = set()
    for column in header:
        if column in seen:
            return column
        seen.add(column)
    return None


def _csv_problem(raw: bytes, delimiter: str = ",") -> Problem | None:
    problem = bom_problem(raw) or _utf8_problem(raw)
    if problem is not None:
        return problem
    text = raw.decode("utf-8")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    width: int | None = None
    offsets = _line_offsets(raw)
    try:
        for row in reader:
            if width is None:
                width = len(row)
                duplicate = duplicate_column(row)
                if duplicate is not None:
                    return Problem(f"column {duplicate!r} appears twice in the header", offset=0, line=1)
                continue
            if row and len(row) != width:
                line = reader.line_num
                return Problem(
                    f"ragged row: {len(row)} fields, header has {width}",
                    offset=offsets[line - 1] if line - 1 < len(offsets) else None,
                    line=line,
                )
    except csv.Error as exc:
        line = reader.line_num
        return Problem(
            f"bad quoting: {exc}",
            offset=offsets[line - 1] if 0 < line <= len(offsets) else None,
            line=line,
        )
    return torn_last_line(raw)


def _lazy_lines(text: str) -> Iterator[str]:
    """Yield the lines of ``text`` with their ends, one at a time (no copy of the whole text)."""
    start = 0
    while start < len(text):
        end = text.find("\n", start) + 1 or len(text)
        yield text[start:end]
        start = end


def _header_width(text: str, delimiter: str) -> int:
    """Return how many fields the first row of ``text`` has under ``delimiter`` (0 if it does not parse)."""
    reader = csv.reader(_lazy_lines(text), delimiter=delimiter, strict=True)
    try:
        return len(next(reader, ()))
    except csv.Error:
        return 0


def _round_trips(text: str, delimiter: str) -> bool:
    r"""Return True if ``csv.writer`` under ``delimiter`` writes the rows of ``text`` back as ``text``.

    ``write_csv`` writes with ``csv.writer``'s default dialect (``\r\n`` line ends,
    minimal quoting): a file it wrote with ``delimiter`` reads back into rows that
    it writes again byte for byte. Under another delimiter the quoting differs
    (a cell holding ``;`` is quoted only when ``;`` separates), so this tells a
    file written with ``delimiter`` from one that merely splits under it.
    """
    buffer = io.StringIO(newline="")
    csv.writer(buffer, delimiter=delimiter).writerows(
        csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    )
    return buffer.getvalue() == text


def _csv_as_written_problem(raw: bytes, delimiter: str) -> Problem | None:
    """Return the problem of CSV ``raw`` under the delimiter it was written with, as far as it can be told.

    1. A NUL byte is damage (zeroed sectors after a power loss): ``csv.writer``
       writes one only for a cell that holds it, which text data does not.
    2. If ``delimiter`` (the new write's) splits the header into two fields or
       more, the file is judged under it alone: a ``;`` file with decimal commas
       that is ragged under ``;`` (``Name;Preis, EUR`` / ``Bob4,20``) must not pass
       because it happens to read as two columns under ``,``.
    3. Else, those of ``,`` ``;`` tab ``|`` that split the header into the most
       fields (two or more; several on a tie) are tried: the file is valid if it
       parses under one (no ragged row) and ``csv.writer`` under it writes the rows
       back as the file, byte for byte (:func:`_round_trips`), as a file written
       with it does. A narrower candidate is not tried: passing where the widest
       fails, it is as likely reading a damaged file of the widest's.
    4. If a candidate of step 3 also splits a data row, the file has several
       columns and is damaged under the delimiter that wrote it: a problem.
    5. Else (a one-column file, whose header may hold another delimiter: ``Preis, EUR``
       written with ``;``), the file must parse under ``delimiter``.
    """
    nul = raw.find(b"\0")
    if nul >= 0:
        return Problem("NUL byte (zeroed or damaged data; csv.writer never writes one for text)", offset=nul)
    problem = bom_problem(raw) or _utf8_problem(raw)
    if problem is not None:
        return problem
    text = raw.decode("utf-8")
    if _header_width(text, delimiter) < 2:
        widths = {candidate: _header_width(text, candidate) for candidate in _USUAL_DELIMITERS}
        # sorted() is stable: a tie keeps the order of _USUAL_DELIMITERS.
        splitting = [
            candidate
            for candidate in sorted(widths, key=lambda candidate: -widths[candidate])
            if candidate != delimiter and widths[candidate] >= 2
        ]
        # Only the widest: a narrower one passing where the widest fails is as likely a damaged file of the
        # widest's (a|b;c;d / 1|2;34 lost a ";" and reads as two "|" columns) as a valid one of its own.
        for candidate in splitting:
            widest = widths[candidate] == widths[splitting[0]]
            if widest and _csv_problem(raw, candidate) is None and _round_trips(text, candidate):
                return None
        for candidate in splitting:
            if _splits_a_data_row(text, candidate):
                # Header and rows split under it: a file of several columns, damaged (ragged) under the
                # delimiter that wrote it, not a one-column file (under a delimiter it never holds, any
                # ragged file reads as one column).
                return _csv_problem(raw, candidate) or Problem(
                    f"its header and rows split under {candidate!r} but it is not as csv.writer writes them:"
                    " a damaged file of several columns, or a one-column file holding that delimiter"
                    " (which delimiter wrote a file is not recorded)",
                    offset=0,
                )
    return _csv_problem(raw, delimiter)


def _splits_a_data_row(text: str, delimiter: str) -> bool:
    """Return True if a row after the header of ``text`` has two fields or more under ``delimiter``."""
    reader = csv.reader(_lazy_lines(text), delimiter=delimiter)
    try:
        next(reader, None)
        return any(len(row) >= 2 for row in reader)
    except csv.Error:
        return True  # it does not even parse under it: no plain one-column file


def find_problem(raw: bytes, fmt: Format, *, tags: bool = True) -> Problem | None:
    """Parse ``raw`` as ``fmt`` and return its first problem, or None if it is valid.

    Args:
        raw: The file content.
        fmt: ``"json"``, ``"jsonl"``, ``"csv"``, :func:`csv_format` of another delimiter
            or :func:`csv_rotation_format`.
        tags: JSON and JSON Lines: a malformed tagged value (``{"$stalwart": "bytes",
            "v": "!!"}``), which the readers refuse, is a problem too (False: syntax only).

    Returns:
        The problem, or None.

    Raises:
        ValueError: ``fmt`` is not a known format.

    """
    if fmt == "json":
        if not raw.strip():
            return Problem("empty file", offset=0)
        return _json_problem(raw, tags=tags)
    if fmt == "jsonl":
        return _jsonl_problem(raw, tags)
    if fmt == "csv":
        return _csv_problem(raw)
    if fmt.startswith("csv") and len(fmt) == 4:
        return _csv_problem(raw, fmt[3])
    if fmt.startswith(_AS_WRITTEN) and len(fmt) == len(_AS_WRITTEN) + 2:
        return _csv_as_written_problem(raw, fmt[len(_AS_WRITTEN)])
    raise ValueError(f"unknown format {fmt!r}; expected one of {FORMATS}")
