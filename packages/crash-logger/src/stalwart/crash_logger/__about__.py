"""Version of the stalwart-crash-logger distribution."""

from __future__ import annotations

__version__ = "0.1.0"
