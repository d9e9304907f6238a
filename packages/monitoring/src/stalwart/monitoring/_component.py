"""Filters that choose records by component (logger name) and level."""

from __future__ import annotations

import fnmatch
import logging
import re
from collections.abc import Iterable

from stalwart.monitoring._errors import MonitoringConfigError
from stalwart.monitoring._fields import to_level

__all__ = ["ComponentFilter", "LevelRangeFilter", "NamePatterns"]

# Decisions are cached per logger name; a program has few names, this bounds the pathological case.
_CACHE_LIMIT = 10_000


class NamePatterns:
    """A set of logger-name patterns with shell wildcards (``*``, ``?``, ``[..]``).

    A pattern matches a name exactly by wildcard, and also matches every
    descendant: ``"db"`` matches ``db`` and ``db.pool``; ``"app.*.io"``
    matches ``app.x.io`` and ``app.x.io.read``.

    Args:
        patterns: The patterns; a single string is one pattern.
    """

    def __init__(self, patterns: Iterable[str] | str) -> None:
        items = [patterns] if isinstance(patterns, str) else list(patterns)
        for item in items:
            if not isinstance(item, str) or not item:
                raise MonitoringConfigError("logger pattern", item, ["a non-empty string"])
        self.patterns = tuple(items)
        regexes = [fnmatch.translate(p).removesuffix(r"\Z").removesuffix(r"\z").removesuffix("$") for p in items]
        # fnmatch.translate wraps the pattern as (?s:...)\Z (\z from Python 3.14); we allow a ".child" tail.
        body = "|".join(f"(?:{r})" for r in regexes)
        self._regex = re.compile(rf"(?:{body})(?:\..*)?\Z", re.DOTALL) if items else None

    def matches(self, name: str) -> bool:
        """Return whether ``name`` or one of its ancestors matches a pattern."""
        return self._regex is not None and self._regex.match(name) is not None

    def __repr__(self) -> str:
        return f"NamePatterns({list(self.patterns)!r})"


class ComponentFilter(logging.Filter):
    """Pass records of included components that are not excluded.

    Args:
        include: Logger-name patterns to keep (see :class:`NamePatterns`);
            ``None`` or empty keeps every component not excluded.
        exclude: Logger-name patterns to drop; exclusion wins over inclusion.
    """

    def __init__(self, include: Iterable[str] | None = None, exclude: Iterable[str] | None = None) -> None:
        super().__init__()
        self.include = NamePatterns(include or ())
        self.exclude = NamePatterns(exclude or ())
        self._cache: dict[str, bool] = {}

    def _decide(self, name: str) -> bool:
        if self.exclude.matches(name):
            return False
        return not self.include.patterns or self.include.matches(name)

    def filter(self, record: logging.LogRecord) -> bool:
        """Return whether ``record``'s logger is kept."""
        name = record.name
        decision = self._cache.get(name)
        if decision is None:
            decision = self._decide(name)
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache[name] = decision
        return decision


class LevelRangeFilter(logging.Filter):
    """Pass records whose level lies in ``[min_level, max_level]``, optionally only for some components.

    Args:
        min_level: Lowest level kept (number or name).
        max_level: Highest level kept (number or name).
        components: Logger-name patterns the range applies to; records of
            other loggers pass untouched. ``None`` applies it to every record.

    Raises:
        MonitoringConfigError: If a level name is unknown or ``min_level > max_level``.
    """

    def __init__(
        self,
        min_level: int | str = logging.NOTSET,
        max_level: int | str = logging.CRITICAL,
        components: Iterable[str] | None = None,
    ) -> None:
        super().__init__()
        self.min_level = to_level(min_level, key="min_level")
        self.max_level = to_level(max_level, key="max_level")
        if self.min_level > self.max_level:
            raise MonitoringConfigError(
                "level range", f"{min_level}..{max_level}", ["min_level <= max_level"]
            )
        self.components = NamePatterns(components) if components is not None else None

    def filter(self, record: logging.LogRecord) -> bool:
        """Return whether ``record`` is kept."""
        if self.components is not None and not self.components.matches(record.name):
            return True
        return self.min_level <= record.levelno <= self.max_level
