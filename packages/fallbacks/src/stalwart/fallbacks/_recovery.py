"""Salvaging the data of a damaged JSON file: array elements, then JSON lines, then backups."""

from __future__ import annotations

import glob
import json
import logging
import os
import re
from dataclasses import dataclass, field
from typing import Any, Literal

import msgspec
from stalwart.fallbacks import _stats
from stalwart.fallbacks._atomic import resolve_target
from stalwart.fallbacks._errors import CorruptFileError, ReadError
from stalwart.fallbacks._readfile import decode_json_bytes, gc_paused
from stalwart.fallbacks._tagged import TagError, decode_types
from stalwart.fallbacks._validate import (
    UTF8_BOM,
    decode_json_line,
    find_problem,
    strict_json_decoder,
    torn_line_is_whole,
)

__all__ = ["RecoveryReport", "recover_json"]

_log = logging.getLogger("stalwart.fallbacks")
_WHITESPACE = " \t\r\n"
_BACKUP_SUFFIX = re.compile(r"\.(\d+)$")
_BOM_SKIPPED = "a leading UTF-8 byte order mark was skipped (read_json refuses it)"

#: How the data of a :class:`RecoveryReport` was obtained.
RecoveryMethod = Literal["intact", "array", "jsonl", "backup"]


@dataclass(frozen=True)
class RecoveryReport:
    """What :func:`recover_json` salvaged, and from where.

    Attributes:
        data: The salvaged data (a list, unless the file was intact or a backup held
            something else).
        recovered: Elements (or lines) salvaged; 1 for an intact non-list document.
        lost: Damaged elements or lines that could not be salvaged (a cut-off tail
            counts as one); for ``"backup"``, 1: the damaged current version.
        source: The file the data came from (the path itself, or a backup).
        method: ``"intact"``, ``"array"``, ``"jsonl"`` or ``"backup"``.
        problems: What was wrong, in order of discovery.

    """

    data: Any
    recovered: int
    lost: int
    source: str
    method: RecoveryMethod
    problems: tuple[str, ...] = field(default=())

    def summary(self) -> str:
        """Return a one-line description for logs and the CLI."""
        text = f"{self.method}: recovered {self.recovered}, lost {self.lost}, from {self.source}"
        if self.problems:
            text += f" ({'; '.join(self.problems)})"
        return text


def _skip_ws(text: str, position: int) -> int:
    while position < len(text) and text[position] in _WHITESPACE:
        position += 1
    return position


def _is_clean(text: str, start: int, end: int) -> bool:
    """Return False if the slice holds bytes that were not valid UTF-8 (surrogate escapes)."""
    try:
        text[start:end].encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _complete_element(text: str, decoder: json.JSONDecoder, position: int) -> tuple[Any, int] | None:
    """Decode the element at ``position`` if complete; return it and where the next may start.

    Complete means followed by ``,`` or ``]``; at the very end of the text only a
    non-number counts (``12`` may be the first digits of ``123``).
    """
    try:
        value, end = decoder.raw_decode(text, position)
    except (ValueError, RecursionError):  # JSONDecodeError, NaN / Infinity refused, or nested too deeply
        return None
    after = _skip_ws(text, end)
    if after < len(text):
        if text[after] not in ",]":
            return None
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        return None
    if not _is_clean(text, position, end):
        return None
    return value, after


# Strings, brackets and commas: enough to find where an element of an array ends.
_ELEMENT_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{},]', re.DOTALL)


def _skip_element(text: str, position: int) -> int | None:
    """Return where the element after the damaged one at ``position`` starts (or the array's ``]``).

    String-aware: a ``,`` inside a damaged string (``"see ids 7, 8, 9"`` with a
    control character in it) is not taken for the end of the element.
    """
    depth = 0
    for token in _ELEMENT_TOKENS.finditer(text, position):
        char = token.group()
        if char == ",":
            if depth == 0:
                return _skip_ws(text, token.end())
        elif char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
            if depth < 0:
                return token.start() if char == "]" else None
    return None


def _elements_to_the_end(text: str, decoder: json.JSONDecoder, position: int) -> list[Any] | None:
    """Return the elements from ``position`` to the array's last ``]``, or None if they do not run there.

    A resync point after a damaged element is only trusted if every element after
    it is complete and the ``]`` they end at is the last thing in the file (only
    whitespace after it): from a point inside a damaged string (a ``,`` in
    ``"see ids 7, 8, 9"``, a quote character overwritten) the rest of the text
    practically never parses through to the end, while a guess that does not
    have to would return pieces of strings as records.
    """
    values: list[Any] = []
    if text[position] == "]":
        return values if _skip_ws(text, position + 1) >= len(text) else None
    while True:
        found = _complete_element(text, decoder, position)
        if found is None:
            return None
        value, after = found
        values.append(value)
        if after >= len(text):
            return None
        if text[after] == "]":
            return values if _skip_ws(text, after + 1) >= len(text) else None
        position = _skip_ws(text, after + 1)


# Strings (possibly cut off at the end of the text) and brackets: enough to track nesting depth.
_STRUCTURE = re.compile(r'"(?:[^"\\]|\\.)*(?:"|\\?\Z)|[\[\]{}]', re.DOTALL)


def _array_end(text: str, start: int) -> int | None:
    """Return where the array opened at ``start`` is closed again (just after it), or None if it is cut.

    A truncated file must never be "resynchronized": a ``,`` inside the cut-off
    element would make a nested value look like a top-level element.
    """
    depth = 0
    for token in _STRUCTURE.finditer(text, start):
        char = token.group()
        if char[0] == '"':
            if token.end() == len(text) and (
                len(char) == 1 or not char.endswith('"') or char.endswith('\\"')
            ):
                return None  # a string cut off by the end of the text
            continue
        depth += 1 if char in "[{" else -1
        if depth == 0:
            return token.end()
    return None


@dataclass(frozen=True)
class _Array:
    """The array reading of a damaged file."""

    items: list[Any]
    lost: int
    #: Text other than whitespace follows the closing bracket (JSON Lines, or damage).
    trailing: bool
    #: An element of the still closed array was damaged (not only a cut-off tail lost).
    resynced: bool


def salvage_array(text: str, restore_types: bool = True) -> _Array:
    """Salvage the complete elements of a damaged JSON array in ``text``.

    Every complete element before the first damaged one is kept. After a damaged
    element of an array that is still closed (damage, not a cut), the elements
    after its string-aware end are kept only if they run, complete, to the
    array's last ``]`` with nothing but whitespace after it; otherwise the
    elements before the damage are all that is returned: a guessed resync point
    must never turn pieces of strings into records. A ``]`` right after a ``,``
    is damage too (``[{"a":1},]"b":2},...]``: a stray bracket).
    """
    decoder = strict_json_decoder()
    opening = text.index("[")
    position = _skip_ws(text, opening + 1)
    items: list[Any] = []
    after_comma = False
    while position < len(text):
        if text[position] == "]":
            trailing = _skip_ws(text, position + 1) < len(text)
            return _Array(items, int(after_comma), trailing, after_comma)
        found = _complete_element(text, decoder, position)
        if found is not None and restore_types:
            try:
                found = (decode_types(found[0]), found[1])
            except TagError:
                found = None
        if found is None:
            return _after_damage(text, decoder, opening, position, items, restore_types)
        value, after = found
        items.append(value)
        if after >= len(text):
            break
        position = after if text[after] == "]" else _skip_ws(text, after + 1)
        after_comma = text[after] == ","
    return _Array(items, 0, False, False)


def _after_damage(
    text: str,
    decoder: json.JSONDecoder,
    opening: int,
    position: int,
    items: list[Any],
    restore_types: bool,
) -> _Array:
    """Finish :func:`salvage_array` at the damaged (or cut-off) element at ``position``."""
    end = _array_end(text, opening)
    if end is None:
        return _Array(items, 1, False, False)  # a cut-off tail: one lost element, nothing after it
    trailing = _skip_ws(text, end) < len(text)
    skipped = _skip_element(text, position)
    rest = _elements_to_the_end(text, decoder, skipped) if skipped is not None and skipped < len(text) else None
    if rest is None:
        # Where the damaged element ends is unknown: the elements before it are all that is sure.
        return _Array(items, 1, trailing, True)
    lost = 1
    for value in rest:
        if restore_types:
            try:
                value = decode_types(value)
            except TagError:
                lost += 1  # a malformed tagged value: its bounds are known, its value is not
                continue
        items.append(value)
    return _Array(items, lost, trailing, True)


@dataclass(frozen=True)
class _Lines:
    """The JSON Lines reading of a damaged file."""

    items: list[Any]
    lost: int
    #: Every newline-terminated line parses; only a torn last line (no ``\n``) may not.
    clean: bool


#: After a damaged first line, how many non-blank lines decide whether the file is JSON Lines
#: or a pretty-printed document; looking no further keeps a big pretty document fast.
_DECIDING_LINES = 64

#: A line of a pretty-printed document that only opens or closes an array or object.
_BRACKET_LINES = frozenset((b"[", b"{", b"]", b"}", b"],", b"},", b","))
_CLOSER_LINES = frozenset((b"]", b"}"))
#: A line of a pretty-printed object: a JSON string (a key), then ``:``.
_KEY_LINE = re.compile(rb'"(?:[^"\\]|\\.)*"[ \t]*:')


def _pretty_shaped(line: bytes, decoder: msgspec.json.Decoder[Any]) -> bool:
    """Return True if ``line`` (which does not parse) looks like a line of a pretty-printed document.

    That is a line that only opens or closes (``[``, ``{``, ``]``, ``}``, ``],``,
    ``},``) or is a lone ``,`` (comma-first styles), one that starts with a key
    (``"port": 443,``), or an element followed by its ``,`` (``443,``,
    ``"b.example",``, ``[],``: it parses once the ``,`` is dropped). No JSON line
    is any of these; a damaged one hardly ever (a record cut short does not parse
    without its last ``,`` either).
    """
    stripped = line.strip()
    if stripped in _BRACKET_LINES or _KEY_LINE.match(stripped) is not None:
        return True
    if not stripped.endswith(b","):
        return False
    try:
        decoder.decode(stripped[:-1])
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        return False
    return True


def _looks_like_json_lines(parsed: int, pretty: int) -> bool:
    """Return True if, of the lines after a damaged first one, those that parse outnumber the pretty-shaped.

    ``parsed`` lines parse alone as a complete JSON value, ``pretty`` ones are
    :func:`_pretty_shaped`; two parsed lines at least.
    """
    return parsed >= 2 and parsed > pretty


def _salvage_lines(raw: bytes, restore_types: bool) -> _Lines | None:
    r"""Read ``raw`` as JSON Lines; None if it reads as a multi-line (pretty-printed) document.

    A first line that parses settles it: a pretty-printed document never starts so.
    A damaged first line leaves it open, whatever it ends with (``{"a": 1,`` cut
    in the middle of a record looks like the ``{"a": [`` that opens an ``indent``ed
    document, and a pretty document damaged in its first line may start with
    anything), so what the lines after it look like decides, not how many of them
    parse (JSON Lines torn by two unlocked writers may have most lines damaged).
    Over the (up to) ``_DECIDING_LINES`` non-blank lines after the damaged first
    one (a torn last line counts only as a closer: ``]`` or ``}`` with no newline after it),
    ``p`` lines parse alone as a complete JSON value and ``s`` are pretty-shaped:
    only an opener or closer (``[``, ``{``, ``]``, ``}``, ``],``, ``},``), a line
    that starts with a key (``"port": 443,``), or an element and its ``,``
    (``80,``). In a pretty-printed document a line that parses alone is the last
    element of an array (``443``, ``"b.example"``), and the next line closes that
    array (or a damaged ``,`` made it parse); keys, elements with their ``,`` and
    closers are everywhere. JSON Lines have none of them. The file is JSON Lines
    if ``p >= 2`` and ``p > s``, or if it holds just one more line, which parses,
    and the first line does not open a document (``[\n  3\n`` may be an array
    cut after its last element). Keeping the fragments of a pretty document would
    pass them off as data.
    """
    decoder = msgspec.json.Decoder()
    items: list[Any] = []
    lost = 0
    clean = True
    lines = raw.split(b"\n")
    last = len(lines) - 1  # the piece after the final newline: torn if non-blank
    first: bytes | None = None  # the first non-blank line, while it is damaged and nothing settled it
    seen_first = False
    window = 0  # non-blank lines after a damaged first one that decide (a torn last line aside)
    window_parsed = 0  # how many of those parse alone
    window_pretty = 0  # how many of those are pretty-shaped
    for number, line in enumerate(lines):
        if not line.strip():
            continue
        parsed = False
        torn = number == last and not torn_line_is_whole(line)
        if torn:
            lost += 1  # cut off: even if it parses (``12`` of ``12345``) it is no record
        else:
            try:
                value = decode_json_line(decoder, line)
                items.append(decode_types(value) if restore_types else value)
                parsed = True
            except (msgspec.DecodeError, UnicodeDecodeError, TagError):
                lost += 1
                if number != last:
                    clean = False
        if not seen_first:
            seen_first = True
            first = None if parsed else line
        elif first is not None and torn:
            # A document's closing "]" / "}" with no newline after it (json.dump writes none) is no torn
            # record; anything else there is the cut (a record torn after its "{" is no sign of a document).
            window_pretty += line.strip() in _CLOSER_LINES
        elif first is not None:
            window += 1
            window_parsed += parsed
            window_pretty += not parsed and _pretty_shaped(line, decoder)
            if window >= _DECIDING_LINES:
                if not _looks_like_json_lines(window_parsed, window_pretty):
                    return None
                first = None  # it looks like JSON Lines
    if first is not None and _looks_like_json_lines(window_parsed, window_pretty):
        first = None
    if first is not None and not (window == window_parsed == 1 and not _opens_document(first)):
        return None
    return _Lines(items, lost, clean)


def _has_later_line(text: str) -> bool:
    """Return True if something other than whitespace follows the first line end of ``text``."""
    newline = text.find("\n")
    if newline < 0:
        return False
    end = len(text)
    while end > newline and text[end - 1] in _WHITESPACE:
        end -= 1
    return end > newline


def _opens_document(line: bytes) -> bool:
    """Return True if ``line`` may start a multi-line array or object (``[``, ``{"a": [``, ``[1,``)."""
    stripped = line.strip()
    return stripped[:1] in (b"[", b"{") and stripped[-1:] in (b"[", b"{", b":", b",")


def _backups_newest_first(real_path: str) -> list[str]:
    found = []
    for candidate in glob.glob(glob.escape(real_path) + ".*"):
        match = _BACKUP_SUFFIX.search(candidate)
        if match and candidate[: match.start()] == real_path:
            found.append((int(match.group(1)), candidate))
    return [candidate for _, candidate in sorted(found)]


def _count(data: Any) -> int:
    return len(data) if isinstance(data, list) else 1


def _salvage_report(
    path: str | os.PathLike[str],
    real_path: str,
    salvaged: tuple[list[Any], int, RecoveryMethod],
    problems: list[str],
) -> RecoveryReport:
    """Count and log a recovery of ``salvaged`` = (complete items, lost count, method) from the file itself."""
    items, lost, method = salvaged
    _stats.count("recoveries")
    report = RecoveryReport(items, len(items), lost, real_path, method, tuple(problems))
    _log.warning("recovered %s: %s", path, report.summary())
    return report


def recover_json(path: str | os.PathLike[str], *, restore_types: bool = True) -> RecoveryReport:
    """Salvage as much as possible from a damaged JSON (or JSON Lines) file.

    In order: the file is decoded as is; else every complete element of a
    truncated top-level array is kept (string-aware, so a ``}`` or ``,`` inside
    a string does not confuse it); else the JSON lines, if every line but a torn
    last one parses; else the newest backup (``path.1``, ``path.2``, ...) that
    decodes cleanly; else, for an array damaged in the middle, the complete
    elements around the damaged ones (each skipped to its string-aware end), or
    for JSON Lines with damaged lines in the middle, the lines that parse.

    A pretty-printed (multi-line) document is never read as JSON Lines: its
    inner lines (``"b.example",``, ``443``) would parse alone as fragments.

    A leading UTF-8 byte order mark, which :func:`read_json` refuses (JSON text
    must not start with one), is skipped: what follows is salvaged as the file
    (an otherwise valid document is returned as ``"intact"``, the mark named in
    ``problems``).

    Args:
        path: The damaged file (it need not exist if a backup does).
        restore_types: Turn tagged values back into their Python types.

    Returns:
        A :class:`RecoveryReport`.

    Raises:
        CorruptFileError: Nothing could be salvaged and no backup is valid.
        ReadError: The file is missing and no backup is valid.

    """
    real_path = resolve_target(path)
    problems: list[str] = []
    salvaged: tuple[list[Any], int, RecoveryMethod] | None = None
    # An array cut before its first complete element salvages to []: used if no backup helps.
    empty_array: tuple[list[Any], int, RecoveryMethod] | None = None
    # An array or JSON Lines damaged in the middle, not only cut off: used if no backup helps.
    damaged: tuple[list[Any], int, RecoveryMethod] | None = None
    first_error: ReadError | None = None
    try:
        with open(real_path, "rb") as handle:
            raw = handle.read()
    except OSError as exc:
        first_error = ReadError(path, exc.strerror or str(exc))
        problems.append(str(first_error))
        raw = None
    if raw is not None:
        try:
            data = decode_json_bytes(raw, path, restore_types=restore_types)
        except CorruptFileError as exc:
            first_error = exc
            problems.append(str(exc))
        else:
            return RecoveryReport(data, _count(data), 0, real_path, "intact")
        if raw.startswith(UTF8_BOM):
            # read_json refuses a byte order mark (JSON text must not start with one); what follows
            # it is salvaged as if it were the file, so a Windows tool's BOM costs no record.
            raw = raw[len(UTF8_BOM) :]
            problems.append(f"{_BOM_SKIPPED} (offset 0)")
            try:
                data = decode_json_bytes(raw, path, restore_types=restore_types)
            except CorruptFileError as exc:
                # The damage that matters is past the mark: offsets count the file's bytes.
                offset = None if exc.offset is None else exc.offset + len(UTF8_BOM)
                first_error = CorruptFileError(path, exc.reason, offset=offset, line=exc.line)
                problems.append(str(first_error))
            else:
                report = RecoveryReport(data, _count(data), 0, real_path, "intact", tuple(problems))
                _log.warning("read %s past its byte order mark: %s", path, report.summary())
                return report
        text = raw.decode("utf-8", "surrogateescape")
        with gc_paused():
            if text.lstrip(_WHITESPACE).startswith("["):
                array = salvage_array(text, restore_types)
                # JSON Lines of arrays: the first array is followed by more lines, or its line is the
                # damaged one (``[1, 2,`` cut off: the array never closes), and later lines parse.
                more = array.trailing or (array.lost > 0 and _has_later_line(text))
                lines = _salvage_lines(raw, restore_types) if more else None
                if lines is not None and len(lines.items) > 1:
                    # An array followed by more lines, several of which parse: JSON Lines (of arrays).
                    if lines.clean:
                        salvaged = (lines.items, lines.lost, "jsonl")
                    else:
                        damaged = (lines.items, lines.lost, "jsonl")  # damaged lines: a valid backup first
                elif array.items and (array.resynced or array.trailing):
                    # Damage in the middle, or text after the array's end: the structure is a guess,
                    # a valid backup is the better bet.
                    damaged = (array.items, max(array.lost, 1), "array")
                elif array.items:
                    salvaged = (array.items, array.lost, "array")
                else:
                    empty_array = (array.items, max(array.lost, int(array.trailing)), "array")
            # One valid JSON document (refused only for a malformed tagged value) is no JSON Lines.
            if salvaged is None and damaged is None and find_problem(raw, "json", tags=False) is not None:
                # Not an array, or one that yields nothing: JSON Lines fits better if lines parse.
                lines = _salvage_lines(raw, restore_types)
                if lines is not None and lines.items:
                    if lines.clean:
                        salvaged = (lines.items, lines.lost, "jsonl")
                    else:
                        # Damaged lines in the middle: a valid backup is the better bet.
                        damaged = (lines.items, lines.lost, "jsonl")
    if salvaged is not None:
        return _salvage_report(path, real_path, salvaged, problems)
    for backup in _backups_newest_first(real_path):
        try:
            with open(backup, "rb") as handle:
                data = decode_json_bytes(handle.read(), backup, restore_types=restore_types)
        except (OSError, CorruptFileError) as exc:
            problems.append(f"backup {backup}: {exc}")
            continue
        _stats.count("recoveries")
        report = RecoveryReport(data, _count(data), 1, backup, "backup", tuple(problems))
        _log.warning("recovered %s from backup: %s", path, report.summary())
        return report
    if damaged is not None:
        return _salvage_report(path, real_path, damaged, problems)
    if empty_array is not None:
        items, lost, method = empty_array
        _stats.count("recoveries")
        report = RecoveryReport(items, 0, lost, real_path, method, tuple(problems))
        _log.warning("recovered nothing from %s: %s", path, report.summary())
        return report
    assert first_error is not None
    if isinstance(first_error, CorruptFileError):
        raise CorruptFileError(
            path,
            f"nothing recoverable and no valid backup ({'; '.join(problems)})",
            offset=first_error.offset,
        ) from first_error
    raise ReadError(path, f"nothing recoverable and no valid backup ({'; '.join(problems)})") from first_error
