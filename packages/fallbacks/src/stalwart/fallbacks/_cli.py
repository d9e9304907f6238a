"""The ``stalwart files`` command group: check, recover, convert JSON / JSON Lines / CSV."""

from __future__ import annotations

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
    Exit status 1 if nothing could be recovered from a damaged file (an intact
    empty array, or a valid backup holding one, is no failure).
    """
    if to_format is not None and output is None:
        raise click.UsageError("--to needs -o/--output (without it the data goes to stdout as JSON)")
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
    except FallbacksError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)


def _load(path: str, fmt: FileFormat, delimiter: str) -> list[Any]:
    if fmt == "json":
        data = read_json(path)
        if not isinstance(data, list):
            raise click.UsageError(f"{path} holds a JSON {type(data).__name__}, not an array of records")
        return data
    if fmt == "jsonl":
        return list(iter_jsonl(path))
    return list(read_csv(path, delimiter=delimiter))


def _save(records: list[Any], path: str, fmt: FileFormat, delimiter: str) -> None:
    if fmt == "json":
        write_json(records, path, nan="tag")
    elif fmt == "jsonl":
        atomic_write(path, encode_jsonl_lines(records, nan="tag"), fmt="jsonl", backups=1)
    else:
        if not all(isinstance(record, dict) for record in records):
            raise click.UsageError("CSV needs every record to be an object")
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
    """Convert records between JSON (array), JSON Lines and CSV, writing DESTINATION atomically."""
    try:
        csv_format(delimiter)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--delimiter") from exc
    source_format = from_format or guess_format(source)
    target_format = to_format or guess_format(destination)
    try:
        records = _load(source, source_format, delimiter)
        _save(records, destination, target_format, delimiter)
    except FallbacksError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    click.echo(
        f"converted {len(records)} record(s): {source} ({source_format}) -> {destination} ({target_format})"
    )
