"""Worker processes log through a fast IPC transport (ZeroMQ) to one master that routes to handlers.

This package is a skeleton; its issue fills it in.
"""

from __future__ import annotations

from stalwart.ipc_logger.__about__ import __version__

__all__ = ["__version__"]
