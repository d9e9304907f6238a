"""Logs that survive the crash they describe: the log writer lives in another process.

This package is a skeleton; its issue fills it in.
"""

from __future__ import annotations

from stalwart.crash_logger.__about__ import __version__

__all__ = ["__version__"]
