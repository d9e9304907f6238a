"""The ``stalwart ipc`` command group."""

from __future__ import annotations

import click

__all__ = ["ipc"]


@click.group("ipc")
def ipc() -> None:
    """Run an IPC log master, send a record, query a running master."""
