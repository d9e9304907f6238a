"""Log levels shared by every stalwart package."""

from __future__ import annotations

import enum
import logging

__all__ = ["Level", "level_name"]


class Level(enum.IntEnum):
    """Severity levels, numerically identical to the stdlib ``logging`` ones plus TRACE."""

    TRACE = 5
    DEBUG = logging.DEBUG
    INFO = logging.INFO
    WARNING = logging.WARNING
    ERROR = logging.ERROR
    CRITICAL = logging.CRITICAL


def level_name(level: int) -> str:
    """Return the name stdlib ``logging`` would print for ``level``.

    Names registered with :func:`logging.addLevelName` win; otherwise a
    :class:`Level` member's name is used (so TRACE prints as ``TRACE`` even if
    nobody registered it), and any other number prints as ``Level N``.

    Args:
        level: A numeric level.

    Returns:
        The level's display name.
    """
    name = logging.getLevelName(level)
    if isinstance(name, str) and not name.startswith("Level "):
        return name
    try:
        return Level(level).name
    except ValueError:
        return f"Level {level}"
