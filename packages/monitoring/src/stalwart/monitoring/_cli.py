"""The ``stalwart monitor`` command group."""

from __future__ import annotations

import json

import click
from stalwart.core import encode_jsonl
from stalwart.monitoring._database import read_database
from stalwart.monitoring._errors import MonitoringError
from stalwart.monitoring._profiles import FEATURES, PROFILES, build_config

__all__ = ["monitor"]


@click.group("monitor")
def monitor() -> None:
    """Inspect logging profiles and the records a DatabaseHandler wrote."""


@monitor.command("profiles")
def profiles() -> None:
    """List the profiles, their default level and the features they switch on."""
    for name, spec in PROFILES.items():
        on = sorted(feature for feature, enabled in spec["features"].items() if enabled)
        click.echo(f"{name}: level={spec['level']} features={','.join(on)}")
    click.echo("features: " + ", ".join(FEATURES))


def _parse_feature(text: str) -> tuple[str, bool]:
    name, sep, value = text.partition("=")
    if not sep:
        return name, True
    lowered = value.strip().lower()
    if lowered in {"1", "true", "on", "yes"}:
        return name, True
    if lowered in {"0", "false", "off", "no"}:
        return name, False
    raise click.BadParameter(f"{text!r}: value must be on/off", param_hint="--feature")


@monitor.command("config")
@click.argument("profile")
@click.option("--level", default=None, help="Root level (name or number); the profile's default if omitted.")
@click.option(
    "--feature", "features", multiple=True, metavar="NAME[=on|off]", help="Switch a feature (repeatable)."
)
@click.option("--log-dir", default="logs", show_default=True, help="Directory for files and the database.")
def config(profile: str, level: str | None, features: tuple[str, ...], log_dir: str) -> None:
    """Print the logging.config.dictConfig dict PROFILE builds, as JSON (nothing is applied)."""
    switches = dict(_parse_feature(item) for item in features)
    try:
        built = build_config(profile, level, switches, log_dir)
    except MonitoringError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(json.dumps(built, indent=2, sort_keys=True))


@monitor.command("tail")
@click.argument("database", type=click.Path(dir_okay=False))
@click.option(
    "-n", "--limit", type=click.IntRange(min=1), default=None, help="Print only the newest N records (default: all)."
)
@click.option("--since-ns", type=int, default=0, help="Only records at or after this Unix time in ns.")
def tail(database: str, limit: int | None, since_ns: int) -> None:
    """Print the records a DatabaseHandler wrote to DATABASE as JSON Lines, oldest first."""
    try:
        for record in read_database(database, since_ns=since_ns, limit=limit, newest=True):
            click.echo(encode_jsonl([record]).decode(), nl=False)
    except MonitoringError as exc:
        raise click.ClickException(str(exc)) from exc
