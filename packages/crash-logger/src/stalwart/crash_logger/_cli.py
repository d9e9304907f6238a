"""The ``stalwart logs`` command group."""

from __future__ import annotations

import click

__all__ = ["logs"]


@click.group("logs")
def logs() -> None:
    """Browse crash-safe log files: summary, latest, list, tail."""
