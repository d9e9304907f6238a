"""The ``stalwart store`` command group."""

from __future__ import annotations

import click

__all__ = ["store"]


@click.group("store")
def store() -> None:
    """Inspect and edit a stalwart shared-data store."""
