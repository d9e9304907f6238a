"""The ``stalwart store`` command group: read and edit a store from the shell."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click
import msgspec
from stalwart.core import to_jsonable
from stalwart.shared_data._errors import SharedDataError
from stalwart.shared_data._store import SharedStore

__all__ = ["store"]

_EXISTING = click.Path(exists=True, dir_okay=False)
_ALLOW_PICKLE = click.option(
    "--allow-pickle",
    is_flag=True,
    help="Read a store that uses the pickle codec (loading a pickle runs code: only for files you trust).",
)


@contextmanager
def _open(path: str, *, allow_pickle: bool) -> Iterator[SharedStore]:
    """Open the store with whatever codec it has; turn our errors into a clean CLI failure."""
    try:
        with SharedStore(path, codec=None) as opened:
            if opened.codec == "pickle" and not allow_pickle:
                raise click.ClickException(
                    f"{path} uses the pickle codec; reading it runs code from the file. "
                    "Pass --allow-pickle if you trust it."
                )
            yield opened
    except SharedDataError as exc:
        raise click.ClickException(str(exc)) from exc


def _to_json(value: Any, *, indent: int = 0) -> str:
    """Return ``value`` as JSON text: bytes as base64, datetimes as ISO 8601, other objects as repr."""
    try:
        data = msgspec.json.encode(value, enc_hook=repr, order="sorted")
    except (TypeError, msgspec.EncodeError):
        # e.g. a pickled dict with tuple keys: fall back to the project's lossless-as-text conversion.
        data = msgspec.json.encode(to_jsonable(value), order="sorted")
    if indent:
        data = msgspec.json.format(data, indent=indent)
    return data.decode()


@click.group("store")
def store() -> None:
    """Inspect and edit a stalwart shared-data store."""


@store.command("get")
@click.argument("path", type=_EXISTING)
@click.argument("key")
@_ALLOW_PICKLE
def get_command(path: str, key: str, allow_pickle: bool) -> None:
    """Print the value of KEY in the store at PATH as JSON (exit 1 if KEY is absent)."""
    with _open(path, allow_pickle=allow_pickle) as opened:
        missing = object()
        value = opened.get(key, missing)
        if value is missing:
            raise click.ClickException(f"key {key!r} is not in {path}")
        click.echo(_to_json(value))


@store.command("set")
@click.argument("path", type=click.Path(dir_okay=False))
@click.argument("key")
@click.argument("value", metavar="JSON")
def set_command(path: str, key: str, value: str) -> None:
    """Store the JSON value under KEY in the store at PATH (created with the msgpack codec if absent)."""
    try:
        decoded = msgspec.json.decode(value)
    except msgspec.DecodeError as exc:
        raise click.BadParameter(f"{value!r} is not valid JSON: {exc}", param_hint="JSON") from exc
    with _open(path, allow_pickle=True) as opened:
        try:
            opened.set(key, decoded)
        except SharedDataError as exc:
            raise click.ClickException(str(exc)) from exc


@store.command("keys")
@click.argument("path", type=_EXISTING)
def keys_command(path: str) -> None:
    """Print every key of the store at PATH, one per line, sorted."""
    # Listing keys decodes no value, so it is safe for a pickle store too.
    with _open(path, allow_pickle=True) as opened:
        for key in opened:
            click.echo(key)


@store.command("dump")
@click.argument("path", type=_EXISTING)
@click.option("--indent", type=click.IntRange(min=0), default=2, show_default=True, help="0 prints one line.")
@_ALLOW_PICKLE
def dump_command(path: str, indent: int, allow_pickle: bool) -> None:
    """Print the whole store at PATH as one JSON object."""
    with _open(path, allow_pickle=allow_pickle) as opened:
        try:
            document = opened.load()
        except SharedDataError as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(_to_json(document, indent=indent))


@store.command("stats")
@click.argument("path", type=_EXISTING)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of aligned lines.")
def stats_command(path: str, as_json: bool) -> None:
    """Print facts about the store at PATH: keys, codec, file and WAL sizes, SQLite settings."""
    with _open(path, allow_pickle=True) as opened:
        facts = dataclasses.asdict(opened.stats())
    if as_json:
        click.echo(_to_json(facts))
        return
    width = max(len(name) for name in facts)
    for name, fact in facts.items():
        click.echo(f"{name:<{width}}  {fact}")
