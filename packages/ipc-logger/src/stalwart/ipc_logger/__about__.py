"""Version of the stalwart-ipc-logger distribution."""

from __future__ import annotations

__version__ = "0.1.0"
