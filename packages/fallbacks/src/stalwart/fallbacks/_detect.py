"""CorruptionDetector: decide whether a JSON / JSON Lines / CSV file is damaged by parsing it."""

from __future__ import annotations

import os
from dataclasses import dataclass

from stalwart.fallbacks._readfile import read_bytes
from stalwart.fallbacks._validate import FORMATS, FileFormat, csv_format, find_problem

__all__ = ["CorruptionDetector", "CorruptionReport", "guess_format"]


@dataclass(frozen=True)
class CorruptionReport:
    """The verdict on one file.

    Attributes:
        path: The file.
        format: The format it was parsed as.
        corrupt: Whether it is damaged.
        reason: The parser's complaint (empty when not corrupt).
        offset: Byte offset of the problem, when known.
        line: 1-based line of the problem (JSON Lines, CSV), when known.

    """

    path: str
    format: FileFormat
    corrupt: bool
    reason: str = ""
    offset: int | None = None
    line: int | None = None


def guess_format(path: str | os.PathLike[str]) -> FileFormat:
    """Return the format a file name implies: ``.jsonl``/``.ndjson``, ``.csv``, else JSON."""
    name = os.fspath(path).lower()
    if name.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    if name.endswith(".csv"):
        return "csv"
    return "json"


class CorruptionDetector:
    """Parses a file to tell whether it is damaged (nothing is guessed from sizes or suffixes)."""

    @staticmethod
    def inspect(
        path: str | os.PathLike[str], file_format: FileFormat | None = None, *, delimiter: str = ","
    ) -> CorruptionReport:
        """Parse ``path`` and report its first problem.

        JSON: syntax, truncation, trailing data, invalid UTF-8. JSON Lines: every
        line. CSV: undecodable bytes, bad quoting, ragged rows.

        Args:
            path: The file.
            file_format: ``"json"``, ``"jsonl"`` or ``"csv"``; default: from the suffix.
            delimiter: The CSV field separator (ignored for JSON).

        Returns:
            A :class:`CorruptionReport`.

        Raises:
            ReadError: The file is missing or unreadable.
            ValueError: Unknown format, or a delimiter that is not one character.

        """
        fmt = guess_format(path) if file_format is None else file_format
        if fmt not in FORMATS:
            raise ValueError(f"unknown format {fmt!r}; expected one of {FORMATS}")
        problem = find_problem(read_bytes(path), csv_format(delimiter) if fmt == "csv" else fmt)
        if problem is None:
            return CorruptionReport(os.fspath(path), fmt, False)
        return CorruptionReport(os.fspath(path), fmt, True, problem.reason, problem.offset, problem.line)

    @staticmethod
    def detect_corruption(
        path: str | os.PathLike[str], file_format: FileFormat | None = None, *, delimiter: str = ","
    ) -> bool:
        """Return True if ``path`` is damaged (see :meth:`inspect`).

        Raises:
            ReadError: The file is missing or unreadable (that is not "corrupt").
            ValueError: Unknown format, or a delimiter that is not one character.

        """
        return CorruptionDetector.inspect(path, file_format, delimiter=delimiter).corrupt
