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
import stat

from stalwart.fallbacks._locking import lock_path_of
from stalwart.fallbacks._validate import Format, csv_format

#: The most of ``<path>.lock`` read back as a record.
_MOST = 1024


def record_written_as(real_path: str, fmt: Format) -> None:
    """Record that ``real_path``, as it is now, was written as ``fmt``; call with its lock held.

    A record that cannot be written is no loss: the next writer judges the bytes alone.
    """
    with contextlib.suppress(OSError):
        st = os.stat(real_path)
        note = {"format": fmt, "ino": st.st_ino, "mtime_ns": st.st_mtime_ns, "size": st.st_size}
        # Never through a symlink (a planted x.csv.lock -> ~/file would be overwritten), only a regular file.
        fd = os.open(lock_path_of(real_path), os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
        try:
            if stat.S_ISREG(os.fstat(fd).st_mode):
                os.ftruncate(fd, 0)
                os.write(fd, json.dumps(note).encode())
        finally:
            os.close(fd)


def recorded_format(real_path: str) -> Format | None:
    """Return the CSV format ``real_path`` was written as, if recorded for it as it is now; else None.

    Call with the file's lock held.
    """
    try:
        with open(lock_path_of(real_path), "rb") as handle:
            note = json.loads(handle.read(_MOST) or b"null")  # a record is ~100 bytes; more is foreign
        st = os.stat(real_path)
    except (OSError, ValueError, RecursionError):  # unreadable, not JSON, or nested deeper than JSON can go
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

