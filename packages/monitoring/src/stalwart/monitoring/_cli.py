"""The ``stalwart monitor`` command group."""

from __future__ import annotations

import click

__all__ = ["monitor"]


@click.group("monitor")
def monitor() -> None:
    """Logging formatters, filters, handlers and profiles."""
