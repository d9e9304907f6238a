"""The ``stalwart files`` command group: check, recover, convert JSON / JSON Lines / CSV."""

from __future__ import annotations

import os
import sys
from typing import Any

import click
from stalwart.fallbacks._atomic import atomic_write
from stalwart.fallbacks._csvfile import read_csv, write_csv
from stalwart.fallbacks._detect import CorruptionDetector, guess_format
from stalwart.fallbacks._errors import FallbacksError, location_suffix
from stalwart.fallbacks._jsonfile import (
    encode_json,
    encode_jsonl_lines,
    iter_jsonl,
    read_json,
    write_json,
)
from stalwart.fallbacks._recovery import recover_json
from stalwart.fallbacks._validate import FORMATS, FileFormat, csv_format

__all__ = ["files"]

_FORMAT_CHOICE = click.Choice(FORMATS)


@click.group("files")
def files() -> None:
    """Check, recover and convert JSON / JSON Lines / CSV files."""


@files.command("check")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--format", "file_format", type=_FORMAT_CHOICE, help="Default: from the file suffix.")
@click.option("--delimiter", default=",", show_default=True, help="CSV field separator.")
def check(path: str, file_format: FileFormat | None, delimiter: str) -> None:
    """Parse PATH and say whether it is damaged (exit status 1 if it is, 2 if unreadable)."""
    try:
        report = CorruptionDetector.inspect(path, file_format, delimiter=delimiter)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--delimiter") from exc
    except FallbacksError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    if not report.corrupt:
        click.echo(f"ok: {path} is valid {report.format}")
        return
    where = location_suffix(report.line, report.offset)
    click.echo(f"corrupt: {path} ({report.format}): {report.reason}{where}")
    sys.exit(1)


@files.command("recover")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    help="Write the salvaged data here, as its suffix says (.json, .jsonl/.ndjson, .csv).",
)
@click.option("--to", "to_format", type=_FORMAT_CHOICE, help="Default: from OUTPUT's suffix.")
def recover(path: str, output: str | None, to_format: FileFormat | None) -> None:
    """Salvage what can be read from a damaged JSON file (array elements, lines, or a backup).

    The summary goes to stderr; the data goes to OUTPUT, or to stdout as JSON.
    OUTPUT must not be PATH itself: the damaged original is the only copy of the
    bytes recovery could not read. Exit status 1 if nothing could be recovered
    from a damaged file (an intact empty array, or a valid backup holding one, is
    no failure); 2 if OUTPUT is PATH, or the data cannot be written as OUTPUT's format.
    """
    if to_format is not None and output is None:
        raise click.UsageError("--to needs -o/--output (without it the data goes to stdout as JSON)")
    if output is not None and _same_file(path, output):
        # A damaged file is never backed up (it is not valid), so writing over it would destroy
        # the only copy of what recovery could not read.
        click.echo(
            f"error: OUTPUT {output} is PATH {path} itself: recovering in place would destroy the damaged "
            "original; write to another file, check it, then move it over",
            err=True,
        )
        sys.exit(2)
    try:
        report = recover_json(path)
    except FallbacksError as exc:
        click.echo(f"nothing recovered: {exc}", err=True)
        sys.exit(1)
    click.echo(report.summary(), err=True)
    if report.method == "array" and report.recovered == 0:
        # A damaged array cut before its first element; an intact or backed-up [] is real data.
        click.echo("nothing recovered", err=True)
        sys.exit(1)
    try:
        if output is None:
            click.echo(encode_json(report.data, indent=2, nan="tag").decode("utf-8"))
            return
        target_format = to_format or guess_format(output)
        if target_format == "json":
            write_json(report.data, output, nan="tag")
        elif isinstance(report.data, list):
            _save(report.data, output, target_format, ",")
        else:
            click.echo(
                f"error: {path} holds a JSON {type(report.data).__name__}, not records: "
                f"it cannot be written as {target_format}",
                err=True,
            )
            sys.exit(2)
        click.echo(f"wrote {report.recovered} item(s) to {output} ({target_format})", err=True)
    except (FallbacksError, ValueError) as exc:  # ValueError: rows CSV cannot hold
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)


def _same_file(first: str, second: str) -> bool:
    """Return True if the two names lead to one file (the same real path, or hard links of one inode)."""
    if os.path.realpath(first) == os.path.realpath(second):
        return True
    try:
        return os.path.samefile(first, second)
    except OSError:
        return False  # one of them does not exist (yet): two different files


def _load(path: str, fmt: FileFormat, delimiter: str) -> list[Any]:
    """Read the records of ``path``.

    Raises:
        FallbacksError: The file cannot be read or is damaged.
        ValueError: A JSON file holds something other than an array.

    """
    if fmt == "json":
        data = read_json(path)
        if not isinstance(data, list):
            raise ValueError(f"{path} holds a JSON {type(data).__name__}, not an array of records")
        return data
    if fmt == "jsonl":
        return list(iter_jsonl(path))
    return list(read_csv(path, delimiter=delimiter))


def _save(records: list[Any], path: str, fmt: FileFormat, delimiter: str) -> None:
    """Write ``records`` to ``path`` as ``fmt``, atomically.

    Raises:
        FallbacksError: The file cannot be written, or a value cannot be encoded.
        ValueError: CSV cannot hold the records (one is not an object, or none has a column).

    """
    if fmt == "json":
        write_json(records, path, nan="tag")
    elif fmt == "jsonl":
        atomic_write(path, encode_jsonl_lines(records, nan="tag"), fmt="jsonl", backups=1)
    else:
        if not all(isinstance(record, dict) for record in records):
            raise ValueError("CSV needs every record to be an object")
        write_csv(records, path, delimiter=delimiter, nan="tag")


@files.command("convert")
@click.argument("source", type=click.Path(dir_okay=False))
@click.argument("destination", type=click.Path(dir_okay=False))
@click.option("--from", "from_format", type=_FORMAT_CHOICE, help="Default: from SOURCE's suffix.")
@click.option("--to", "to_format", type=_FORMAT_CHOICE, help="Default: from DESTINATION's suffix.")
@click.option("--delimiter", default=",", show_default=True, help="CSV field separator (either side).")
def convert(
    source: str,
    destination: str,
    from_format: FileFormat | None,
    to_format: FileFormat | None,
    delimiter: str,
) -> None:
    """Convert records between JSON (array), JSON Lines and CSV, writing DESTINATION atomically.

    Exit status 1 if SOURCE cannot be read or DESTINATION written, or the records
    do not fit DESTINATION's format (nothing is written then).
    """
    try:
        csv_format(delimiter)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--delimiter") from exc
    source_format = from_format or guess_format(source)
    target_format = to_format or guess_format(destination)
    try:
        records = _load(source, source_format, delimiter)
        _save(records, destination, target_format, delimiter)
    except (FallbacksError, ValueError) as exc:  # ValueError: data the target format cannot hold
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    click.echo(
        f"converted {len(records)} record(s): {source} ({source_format}) -> {destination} ({target_format})"
    )
