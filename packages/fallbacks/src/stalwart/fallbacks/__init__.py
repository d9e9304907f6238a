"""Atomic, durable JSON/CSV writes and reads with corruption detection and recovery.

This package is a skeleton; its issue fills it in.
"""

from __future__ import annotations

from stalwart.fallbacks.__about__ import __version__

__all__ = ["__version__"]
