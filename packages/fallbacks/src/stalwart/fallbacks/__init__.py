r"""stalwart-fallbacks: atomic, durable JSON/CSV files that recover from damage.

Example:
    >>> import tempfile, pathlib
    >>> from stalwart.fallbacks import read_json, write_json
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "users.json"
    >>> _ = write_json([{"id": 1, "tags": {"a", "b"}, "raw": b"\x00"}], path)
    >>> read_json(path) == [{"id": 1, "tags": {"a", "b"}, "raw": b"\x00"}]
    True

"""

from __future__ import annotations

from stalwart.fallbacks.__about__ import __version__
from stalwart.fallbacks._csvfile import read_csv, write_csv
from stalwart.fallbacks._detect import CorruptionDetector, CorruptionReport
from stalwart.fallbacks._errors import (
    CorruptFileError,
    FallbacksError,
    LockTimeoutError,
    ReadError,
    SchemaError,
    UnsupportedTypeError,
    WriteError,
)
from stalwart.fallbacks._jsonfile import (
    append_jsonl,
    iter_json_array,
    iter_jsonl,
    read_json,
    write_json,
)
from stalwart.fallbacks._performance import clear_all_caches, get_performance_stats
from stalwart.fallbacks._recovery import RecoveryReport, recover_json
from stalwart.fallbacks._safe import (
    async_read_json,
    async_safe_read_csv,
    async_safe_read_json,
    async_safe_write_csv,
    async_safe_write_json,
    async_write_json,
    safe_read_csv,
    safe_read_json,
    safe_write_csv,
    safe_write_json,
)
from stalwart.fallbacks._tagged import MARKER, NanPolicy

__all__ = [
    "MARKER",
    "CorruptFileError",
    "CorruptionDetector",
    "CorruptionReport",
    "FallbacksError",
    "LockTimeoutError",
    "NanPolicy",
    "ReadError",
    "RecoveryReport",
    "SchemaError",
    "UnsupportedTypeError",
    "WriteError",
    "__version__",
    "append_jsonl",
    "async_read_json",
    "async_safe_read_csv",
    "async_safe_read_json",
    "async_safe_write_csv",
    "async_safe_write_json",
    "async_write_json",
    "clear_all_caches",
    "get_performance_stats",
    "iter_json_array",
    "iter_jsonl",
    "read_csv",
    "read_json",
    "recover_json",
    "safe_read_csv",
    "safe_read_json",
    "safe_write_csv",
    "safe_write_json",
    "write_csv",
    "write_json",
]
