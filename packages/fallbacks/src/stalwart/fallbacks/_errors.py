"""The typed errors of stalwart.fallbacks; each one names the file (and value) at fault."""

from __future__ import annotations

import os
import re
from typing import Any

from stalwart.core import StalwartError

__all__ = [
    "CorruptFileError",
    "FallbacksError",
    "LockTimeoutError",
    "ReadError",
    "SchemaError",
    "UnsupportedTypeError",
    "WriteError",
]


def location_suffix(line: int | None, offset: int | None) -> str:
    """Return `` (at line L, byte B)`` for the parts that are known, or ``""``."""
    where = []
    if line is not None:
        where.append(f"line {line}")
    if offset is not None:
        where.append(f"byte {offset}")
    return f" (at {', '.join(where)})" if where else ""


class FallbacksError(StalwartError):
    """Base class of every error raised by stalwart.fallbacks."""


class WriteError(FallbacksError, OSError):
    """A file could not be written; the previous content of ``path`` is intact.

    Attributes:
        path: The file that was being written.
        reason: What went wrong, e.g. the ``OSError`` text.

    """

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        self.path = os.fspath(path)
        self.reason = reason
        super().__init__(f"cannot write {self.path}: {reason}")

    def __str__(self) -> str:
        return f"cannot write {self.path}: {self.reason}"

    def __reduce__(self) -> tuple[Any, ...]:
        # Picklable (multiprocessing, concurrent.futures) despite the two-argument constructor.
        return (type(self), (self.path, self.reason), self.__dict__)


class ReadError(FallbacksError, OSError):
    """A file could not be read (missing, unreadable, ...).

    Attributes:
        path: The file that was being read.
        reason: What went wrong.

    """

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        self.path = os.fspath(path)
        self.reason = reason
        super().__init__(f"cannot read {self.path}: {reason}")

    def __str__(self) -> str:
        return f"cannot read {self.path}: {self.reason}"

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.path, self.reason), self.__dict__)


class CorruptFileError(ReadError, ValueError):
    """A file was read but its content is not valid for its format.

    Attributes:
        path: The damaged file.
        offset: Byte offset of the first problem, when known.
        line: 1-based line number of the problem (JSON Lines, CSV), when known.
        reason: What the parser said.

    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        reason: str,
        *,
        offset: int | None = None,
        line: int | None = None,
    ) -> None:
        self.offset = offset
        self.line = line
        super().__init__(path, reason)

    def __str__(self) -> str:
        return f"corrupt file {self.path}: {self.reason}{location_suffix(self.line, self.offset)}"


class SchemaError(ReadError, ValueError):
    """A valid JSON file whose content does not match the ``type`` it was read as.

    Not damage: the file parses, so ``read_json(..., recover=True)`` raises it too.

    Attributes:
        path: The file that was read.
        reason: msgspec's message, e.g. ``Expected `int`, got `str` - at `$[12].score```.
        location: Where the mismatch sits (``$[12].score``), when msgspec names it.

    """

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        found = _SCHEMA_LOCATION.search(reason)
        self.location: str | None = found.group(1) if found else None
        super().__init__(path, reason)

    def __str__(self) -> str:
        return f"{self.path} does not match the schema: {self.reason}"


_SCHEMA_LOCATION = re.compile(r" - at `(\$[^`]*)`$")


class UnsupportedTypeError(FallbacksError, TypeError):
    """A value has no lossless encoding (and is never silently turned into text).

    Attributes:
        value_path: Where the value sits in the data, e.g. ``$[3]['tags'][1]``.
        type_name: The offending value's type.
        reason: Why it cannot be written.

    """

    def __init__(self, type_name: str, reason: str, value_path: str = "$") -> None:
        self.type_name = type_name
        self.reason = reason
        self.value_path = value_path
        super().__init__(self._message())

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.type_name, self.reason, self.value_path), self.__dict__)

    def _message(self) -> str:
        return f"cannot encode {self.type_name} at {self.value_path}: {self.reason}"

    def __str__(self) -> str:
        return self._message()

    def add_parent(self, segment: str) -> None:
        """Prefix ``segment`` (e.g. ``[3]``) to :attr:`value_path` as the error unwinds."""
        self.value_path = "$" + segment + self.value_path[1:]


class LockTimeoutError(WriteError, TimeoutError):
    """The ``<path>.lock`` lock was not acquired within the timeout."""
