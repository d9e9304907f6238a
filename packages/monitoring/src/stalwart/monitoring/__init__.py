"""Formatters, filters, handlers, log analysis, alert rules, profiles and a live dashboard.

This package is a skeleton; its issue fills it in.
"""

from __future__ import annotations

from stalwart.monitoring.__about__ import __version__

__all__ = ["__version__"]
