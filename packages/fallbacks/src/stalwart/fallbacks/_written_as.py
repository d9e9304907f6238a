"""Which exact CSV format (delimiter) wrote a file, recorded in its ``.lock`` file for the next writer.

A CSV file does not say which delimiter wrote it, and ``write_csv`` must judge the
current file before it becomes a backup, possibly under another delimiter than the
one it was written with. So each ``write_csv`` records, under the file's lock, the
format it wrote and the file's (inode, mtime_ns, size) in ``<path>.lock`` (which
holds nothing else). The next writer trusts the record only while the file is
unchanged since; otherwise it falls back to judging the bytes alone.
"""

from __future__ import annotations

import contextlib
import json
import os

from stalwart.fallbacks._validate import Format, csv_format


def record_written_as(real_path: str, fmt: Format) -> None:
    """Record that ``real_path``, as it is now, was written as ``fmt``; call with its lock held.

    A record that cannot be written is no loss: the next writer judges the bytes alone.
    """
    with contextlib.suppress(OSError):
        st = os.stat(real_path)
        note = {"format": fmt, "ino": st.st_ino, "mtime_ns": st.st_mtime_ns, "size": st.st_size}
        with open(real_path + ".lock", "w", encoding="utf-8") as handle:
            handle.write(json.dumps(note))


def recorded_format(real_path: str) -> Format | None:
    """Return the CSV format ``real_path`` was written as, if recorded for it as it is now; else None.

    Call with the file's lock held.
    """
    try:
        with open(real_path + ".lock", encoding="utf-8") as handle:
            note = json.loads(handle.read() or "null")
        st = os.stat(real_path)
    except (OSError, ValueError):
        return None
    if not isinstance(note, dict):
        return None
    if (note.get("ino"), note.get("mtime_ns"), note.get("size")) != (st.st_ino, st.st_mtime_ns, st.st_size):
        return None  # changed since (another tool, another writer): the record says nothing about it
    fmt = note.get("format")
    if not (isinstance(fmt, str) and fmt.startswith("csv") and len(fmt) <= 4):
        return None
    try:
        return csv_format(fmt[3:] or ",")  # csv_format(",") is plain "csv"
    except ValueError:
        return None

