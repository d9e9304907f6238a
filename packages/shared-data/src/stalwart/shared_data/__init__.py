"""A locked data store many processes update without losing a write (SQLite WAL).

This package is a skeleton; its issue fills it in.
"""

from __future__ import annotations

from stalwart.shared_data.__about__ import __version__

__all__ = ["__version__"]
