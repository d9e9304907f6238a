r"""The strict CSV API: write_csv and read_csv, with nested dicts flattened to dotted columns.

Key scheme: a nested dict ``{"nested": {"a": 1}}`` becomes the column
``nested.a``; inside one key, ``\`` is written ``\\`` and ``.`` is written
``\.`` so any key survives (``{"a.b": 1}`` -> column ``a\.b``). ``read_csv``
splits on unescaped dots and rebuilds the nesting.

Cells: ``str`` as is; ``int`` / ``float`` as their repr; ``bool`` as
``true`` / ``false``; ``None`` (and a missing key, and what ``nan="null"`` makes
``None``) as an empty cell; an empty
dict, lists and the other supported types as compact tagged JSON text. CSV has
no types, so ``read_csv`` returns text cells unless a ``convert`` function is
given for the column; use JSON when exact types matter.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import msgspec
from stalwart.fallbacks import _stats
from stalwart.fallbacks._atomic import atomic_write
from stalwart.fallbacks._errors import CorruptFileError, UnsupportedTypeError
from stalwart.fallbacks._locking import DEFAULT_LOCK_TIMEOUT
from stalwart.fallbacks._readfile import read_bytes
from stalwart.fallbacks._tagged import NanPolicy, encode_types, map_items, unencodable_text
from stalwart.fallbacks._validate import (
    bom_problem,
    csv_format,
    csv_rotation_format,
    duplicate_column,
    torn_last_line,
)

__all__ = ["escape_key", "flatten_row", "read_csv", "split_column", "unflatten_row", "write_csv"]

_ENCODER = msgspec.json.Encoder()


def escape_key(key: str) -> str:
    """Escape one dict key for use inside a dotted column name."""
    return key.replace("\\", "\\\\").replace(".", "\\.")


def split_column(column: str) -> list[str]:
    """Split a dotted column name into its (unescaped) keys."""
    parts: list[str] = []
    current: list[str] = []
    chars = iter(column)
    for char in chars:
        if char == "\\":
            current.append(next(chars, "\\"))
        elif char == ".":
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def _cell(value: Any, nan: NanPolicy) -> str:
    kind = type(value)
    if kind is str:
        return value  # type: ignore[no-any-return]
    if value is None:
        return ""
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return str(value)
    if kind is float and value - value == 0.0:
        return repr(value)
    try:
        encoded = encode_types(value, nan)
        if encoded is None:
            return ""  # nan="null" made it None, and None is an empty cell
        return _ENCODER.encode(encoded).decode("utf-8")
    except UnicodeEncodeError as exc:
        raise unencodable_text(value, exc) from exc


def flatten_row(row: Mapping[str, Any], nan: NanPolicy = "raise") -> dict[str, str]:
    """Flatten one row to ``{dotted column: cell text}``.

    Raises:
        UnsupportedTypeError: A key is not a ``str`` or a value cannot be encoded.

    """
    flat: dict[str, str] = {}
    _flatten_into(flat, row, "", nan)
    return flat


def _flatten_into(flat: dict[str, str], mapping: Mapping[Any, Any], prefix: str, nan: NanPolicy) -> None:
    for key, value in mapping.items():
        if type(key) is not str:
            raise UnsupportedTypeError(type(key).__name__, "CSV column keys must be str", f"$[{key!r}]")
        column = prefix + (escape_key(key) if "." in key or "\\" in key else key)
        if type(value) is str:
            flat[column] = value
            continue
        try:
            if isinstance(value, dict) and value:
                _flatten_into(flat, value, column + ".", nan)
            else:
                flat[column] = _cell(value, nan)
        except UnsupportedTypeError as exc:
            exc.add_parent(f"[{key!r}]")
            raise


def unflatten_row(flat: Mapping[str, Any], *, line: int | None = None, path: str = "<csv>") -> dict[str, Any]:
    """Rebuild nested dicts from dotted columns (empty cells never override a nested value).

    Raises:
        CorruptFileError: Two non-empty cells claim the same key as a value and as a dict.

    """
    return _nest([(split_column(column), value) for column, value in flat.items()], line, path)


def _nest(cells: Iterable[tuple[list[str], Any]], line: int | None, path: str) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for keys, value in cells:
        target = row
        conflict = False
        for key in keys[:-1]:
            child = target.setdefault(key, {})
            if not isinstance(child, dict):
                if child != "":
                    conflict = True
                    break
                child = target[key] = {}
            target = child
        leaf = keys[-1]
        existing = target.get(leaf)
        if conflict or (isinstance(existing, dict) and not _only_empty_cells(existing)):
            if value == "":
                continue
            raise CorruptFileError(path, f"column {'.'.join(keys)!r} clashes with a nested column", line=line)
        if isinstance(existing, dict) and value == "":
            continue
        # A nested placeholder made only of empty cells (``a.b`` before ``a`` in the header)
        # gives way to a value, as an empty ``a`` gives way to ``a.b``: either order reads back.
        target[leaf] = value
    return row


def _only_empty_cells(mapping: dict[str, Any]) -> bool:
    return all(_only_empty_cells(item) if isinstance(item, dict) else item == "" for item in mapping.values())


def write_csv(
    rows: Iterable[Mapping[str, Any]],
    path: str | os.PathLike[str],
    *,
    fieldnames: list[str] | None = None,
    delimiter: str = ",",
    durable: bool = True,
    backups: int = 1,
    nan: NanPolicy = "raise",
    lock_timeout: float | None = DEFAULT_LOCK_TIMEOUT,
) -> int:
    r"""Write rows (dicts, possibly nested) as CSV with a header, atomically.

    Args:
        rows: The rows; nested dicts are flattened to dotted columns.
        path: Target file; a symlink is written through.
        fieldnames: Column order (dotted names); default: columns in first-seen order.
        delimiter: Field separator.
        durable: ``fsync`` file and directory before returning.
        backups: Backup generations to keep; the current file must be valid CSV to
            become one: under the delimiter a ``write_csv`` recorded for it in
            ``<path>.lock`` if the file is unchanged since, else (no NUL byte) under
            ``delimiter`` alone if that splits its
            header into two fields or more, else under one of ``,`` ``;`` tab ``|``
            that splits it and under which ``csv.writer`` writes its rows back byte
            for byte (it was written with another delimiter), else (one column)
            under ``delimiter``.
        nan: NaN / infinity policy.
        lock_timeout: Seconds to wait for ``<path>.lock``.

    Returns:
        Bytes written.

    Raises:
        UnsupportedTypeError: A value cannot be encoded (nothing written).
        ValueError: A row has a column missing from ``fieldnames``, ``fieldnames``
            repeats a column, or there are rows but no column at all (``[{}, {}]``:
            CSV has no way to write a row without cells); ``delimiter`` is not one
            character, or is ``"``, ``\r`` or ``\n`` (nothing is written).
        WriteError: The file could not be written; the old content is intact.

    """
    # Refuses a delimiter csv.writer accepts but no reader can split, before anything is written.
    fmt = csv_rotation_format(delimiter)
    flat_rows = map_items(lambda row: flatten_row(row, nan), rows)
    columns = (
        list(fieldnames) if fieldnames is not None else list(dict.fromkeys(c for r in flat_rows for c in r))
    )
    duplicates = sorted({column for column in columns if columns.count(column) > 1})
    if duplicates:
        raise ValueError(f"fieldnames name a column more than once: {duplicates}")
    if flat_rows and not columns:
        # A row with no cells is a blank line, which no CSV reader returns as a row.
        raise ValueError(f"{len(flat_rows)} row(s) but no column: CSV cannot hold a row without cells")
    if fieldnames is not None:
        known = set(columns)
        for row in flat_rows:
            extra = [column for column in row if column not in known]
            if extra:
                raise ValueError(f"row has columns not in fieldnames: {extra}")
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=delimiter)
    writer.writerow(columns)
    writer.writerows([row.get(column, "") for column in columns] for row in flat_rows)
    try:
        payload = buffer.getvalue().encode("utf-8")
    except UnicodeEncodeError as exc:
        raise unencodable_text(flat_rows, exc) from exc
    return atomic_write(
        path,
        (payload,),
        # The current file is validated under the delimiter it was written with, which may be another:
        # recorded by this write for the next one, guessed from the bytes when no record fits.
        fmt=fmt,
        written_as=csv_format(delimiter),
        durable=durable,
        backups=backups,
        lock_timeout=lock_timeout,
    )


def _refuse_columns_naming_one_key(
    path: str | os.PathLike[str], header: list[str], key_paths: list[list[str]]
) -> None:
    r"""Raise if two header columns unescape to the same keys (``a`` and ``\a``): one cell would be lost."""
    seen: dict[tuple[str, ...], str] = {}
    for column, keys in zip(header, key_paths, strict=True):
        other = seen.setdefault(tuple(keys), column)
        if other != column:
            raise CorruptFileError(
                path, f"columns {other!r} and {column!r} name the same key {keys!r}", line=1, offset=0
            )


def read_csv(
    path: str | os.PathLike[str],
    *,
    delimiter: str = ",",
    unflatten: bool = True,
    convert: Mapping[str, Callable[[str], Any]] | None = None,
) -> list[dict[str, Any]]:
    r"""Read a CSV file with a header row; strict about damage.

    Args:
        path: The file.
        delimiter: Field separator.
        unflatten: Rebuild nested dicts from dotted columns.
        convert: Per-column (dotted name) functions applied to non-empty cells,
            e.g. ``{"id": int}``.

    Returns:
        One dict per row.

    Raises:
        ReadError: The file is missing or unreadable.
        CorruptFileError: A leading UTF-8 byte order mark (refused, as ``read_json``
            refuses it: it would become part of the first column's name; offset 0),
            undecodable bytes, bad quoting, a column named twice in
            the header (or, with ``unflatten``, two columns naming the same key: ``a``
            and ``\a``), a ragged row or a torn last row (no final newline) (``line``/``offset`` say where),
            or a ``convert`` function rejected a cell.
        ValueError: ``delimiter`` is not one character, or is ``"``, ``\r`` or ``\n``.

    """
    csv_format(delimiter)  # refuse a delimiter no file can be split by, before reading
    raw = read_bytes(path)
    bom = bom_problem(raw)
    if bom is not None:
        raise CorruptFileError(path, bom.reason, offset=bom.offset, line=bom.line)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CorruptFileError(path, f"invalid UTF-8: {exc.reason}", offset=exc.start) from exc
    torn = torn_last_line(raw)
    if torn is not None:
        # The last row may still parse, with its last cell cut short: it would read wrong.
        raise CorruptFileError(path, torn.reason, offset=torn.offset, line=torn.line)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    where = os.fspath(path)
    try:
        header = next(reader, None)
        if header is None:
            return []
        duplicate = duplicate_column(header)
        if duplicate is not None:
            raise CorruptFileError(path, f"column {duplicate!r} appears twice in the header", line=1, offset=0)
        # Split the column names once, not once per row.
        key_paths = [split_column(column) for column in header]
        if unflatten:
            _refuse_columns_naming_one_key(path, header, key_paths)
        nested = unflatten and any(len(keys) > 1 for keys in key_paths)
        converters = [
            (index, column, convert[column])
            for index, column in enumerate(header)
            if convert and column in convert
        ]
        rows: list[dict[str, Any]] = []
        for cells in reader:
            if not cells:
                continue
            if len(cells) != len(header):
                raise CorruptFileError(
                    path,
                    f"ragged row: {len(cells)} fields, header has {len(header)}",
                    line=reader.line_num,
                )
            values: list[Any] = cells
            for index, column, function in converters:
                if cells[index]:
                    try:
                        cells[index] = function(cells[index])
                    except (TypeError, ValueError, ArithmeticError) as exc:
                        raise CorruptFileError(
                            path, f"column {column!r}: {exc}", line=reader.line_num
                        ) from exc
            if nested:
                rows.append(_nest(zip(key_paths, values, strict=True), reader.line_num, where))
            elif unflatten:
                rows.append({keys[0]: value for keys, value in zip(key_paths, values, strict=True)})
            else:
                rows.append(dict(zip(header, values, strict=True)))
    except csv.Error as exc:
        raise CorruptFileError(path, f"bad quoting: {exc}", line=reader.line_num) from exc
    _stats.count("reads")
    return rows
