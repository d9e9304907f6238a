"""The ``stalwart files`` command group."""

from __future__ import annotations

import click

__all__ = ["files"]


@click.group("files")
def files() -> None:
    """Check, recover and convert JSON / JSON Lines / CSV files."""
