"""Fixtures for the ipc_logger tests: short socket paths and a JSON Lines reader."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from stalwart.core import Record, iter_jsonl


@pytest.fixture
def sock_dir() -> Iterator[Path]:
    """A short private directory: pytest's tmp_path can exceed the 107-byte Unix socket limit."""
    directory = tempfile.mkdtemp(prefix="swi", dir="/tmp")
    yield Path(directory)
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def ipc_path(sock_dir: Path) -> str:
    """A fresh ipc:// endpoint nobody serves yet."""
    return f"ipc://{sock_dir}/m.sock"


@pytest.fixture
def read_jsonl() -> Callable[[Path], list[Record]]:
    """Read every record of a JSON Lines file."""

    def read(path: Path) -> list[Record]:
        with open(path, "rb") as handle:
            return list(iter_jsonl(handle))

    return read
