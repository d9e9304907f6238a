"""The strict JSON / JSON Lines API: write/read_json, append/iter_jsonl, iter_json_array."""

from __future__ import annotations

import builtins
import codecs
import contextlib
import json
import logging
import os
import re
import stat
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar, overload

import msgspec
from stalwart.fallbacks import _stats
from stalwart.fallbacks._atomic import (
    Chunks,
    atomic_write,
    counted_write,
    fsync_directory,
    resolve_target,
    write_all,
)
from stalwart.fallbacks._errors import CorruptFileError, ReadError, SchemaError
from stalwart.fallbacks._locking import DEFAULT_LOCK_TIMEOUT, file_lock
from stalwart.fallbacks._plain import is_plain_json
from stalwart.fallbacks._readfile import decode_json_bytes, open_for_reading, read_bytes
from stalwart.fallbacks._schema import convert_to, decode_typed
from stalwart.fallbacks._tagged import (
    MARKER_BYTES,
    NanPolicy,
    TagError,
    check_nan_policy,
    decode_types,
    encode_types,
    map_items,
    unencodable_text,
)
from stalwart.fallbacks._validate import (
    NESTED_TOO_DEEPLY,
    TORN_LAST_LINE,
    decode_json_line,
    strict_json_decoder,
    torn_line_is_whole,
)

__all__ = [
    "append_jsonl",
    "encode_json",
    "iter_json_array",
    "iter_jsonl",
    "read_json",
    "write_json",
]

_log = logging.getLogger("stalwart.fallbacks")
_ENCODER = msgspec.json.Encoder()
_DECODER = msgspec.json.Decoder()
T = TypeVar("T")
#: From this payload size on, ``write_json`` checks the data while the temp file is written.
_OVERLAP_MIN_BYTES = 1 << 20


def encode_json(data: Any, *, indent: int | None = None, nan: NanPolicy = "raise") -> bytes:
    """Encode ``data`` with the tagged type encoding (no trailing newline).

    Raises:
        UnsupportedTypeError: A value has no lossless encoding (also a string or
            key holding a lone surrogate, which UTF-8 cannot encode).

    """
    tagged = encode_types(data, nan)
    try:
        payload = _ENCODER.encode(tagged)
    except UnicodeEncodeError as exc:
        raise unencodable_text(data, exc) from exc
    if indent is not None:
        payload = msgspec.json.format(payload, indent=indent)
    return payload


def write_json(
    data: Any,
    path: str | os.PathLike[str],
    *,
    durable: bool = True,
    backups: int = 1,
    indent: int | None = None,
    nan: NanPolicy = "raise",
    lock_timeout: float | None = DEFAULT_LOCK_TIMEOUT,
) -> int:
    """Write ``data`` as one JSON document, atomically, keeping validated backups.

    ``data`` is read while it is encoded and checked, under the file's lock: it
    must not be mutated by another thread during the call (as with
    ``json.dumps``), or the file may hold a mix of old and new values.

    Args:
        data: Any nesting of the supported types (see the package README); not
            mutated by another thread during the call.
        path: Target file; a symlink is written through.
        durable: ``fsync`` file and directory before returning.
        backups: Backup generations to keep (``path.1`` is the newest); the
            current file becomes a backup only if it is valid JSON.
        indent: Pretty-print with this many spaces (None: compact).
        nan: What to do with NaN / infinity: ``"raise"``, ``"tag"`` or ``"null"``.
        lock_timeout: Seconds to wait for ``<path>.lock``; ``None`` waits forever.

    Returns:
        Bytes written.

    Raises:
        UnsupportedTypeError: A value cannot be encoded losslessly (nothing written).
        WriteError: The file could not be written; the old content is intact.

    """
    check_nan_policy(nan)

    def exact() -> tuple[Chunks, None]:
        return (encode_json(data, indent=indent, nan=nan), b"\n"), None

    attempts = 0

    def prepare() -> tuple[Chunks, Callable[[], bool] | None]:
        """Encode ``data`` as it is under the lock: msgspec's bytes if the check agrees, else the exact way.

        Plain JSON data (the common case) needs no tags, so msgspec's output is
        already exact when the lossless check agrees. Encoding and check both run
        under the lock, on the data as it is then: encoded before a wait for the
        lock, the bytes could be stale, lossy ones (a datetime since replaced by
        None) passed by a check of the new data. A large payload is written while
        its check runs; if the check then says no, ``atomic_write`` calls this a
        second time, still under the lock, for the exact encoding.
        """
        nonlocal attempts
        attempts += 1
        if attempts > 1:
            return exact()
        raw = _encode_untagged(data)
        if raw is None:
            return exact()  # msgspec refuses it: the exact path raises the documented error

        def check() -> bool:
            return is_plain_json(data, raw)

        overlap = len(raw) >= _OVERLAP_MIN_BYTES
        if not overlap and not check():
            return exact()
        payload = raw if indent is None else msgspec.json.format(raw, indent=indent)
        return (payload, b"\n"), check if overlap else None

    return atomic_write(
        path, prepare, fmt="json", durable=durable, backups=backups, lock_timeout=lock_timeout
    )


def _encode_untagged(data: Any) -> bytes | None:
    """Return msgspec's encoding of ``data`` as it is, or None where msgspec refuses it.

    Only a candidate: msgspec also writes tuples, sets, bytes, datetimes, NaN ...
    (lossily), so it is used only if :func:`is_plain_json` then says the data is
    plain. Refusals (an unknown type, a cycle) are left to the exact path, which
    raises the documented errors.
    """
    try:
        return _ENCODER.encode(data)
    except (TypeError, ValueError, OverflowError, RecursionError, msgspec.EncodeError):
        return None


@overload
def read_json(
    path: str | os.PathLike[str], *, recover: bool = ..., restore_types: bool = ..., type: None = ...
) -> Any: ...
@overload
def read_json(
    path: str | os.PathLike[str], *, recover: bool = ..., restore_types: bool = ..., type: builtins.type[T]
) -> T: ...
@overload
def read_json(path: str | os.PathLike[str], *, recover: bool = ..., restore_types: bool = ..., type: Any) -> Any: ...
def read_json(
    path: str | os.PathLike[str], *, recover: bool = False, restore_types: bool = True, type: Any = None
) -> Any:
    """Read one JSON document, as plain data or validated into a schema.

    Args:
        path: The file.
        recover: On damage, return what :func:`recover_json` salvages (logged as a
            warning) instead of raising. With ``type``, the salvage is converted
            to it (``msgspec.convert``); a :class:`SchemaError` is never recovered.
        restore_types: Turn tagged values back into bytes, sets, datetimes, ...
            Must stay True with ``type``.
        type: Decode straight into this schema, like ``msgspec.json.decode(...,
            type=...)``: a ``msgspec.Struct`` (``gc=False`` Structs read fastest),
            ``TypedDict``, dataclass, ``list[Row]`` ... The decoder is cached per
            type. A file holding tagged values is decoded untyped, its tags
            restored, then converted (slower).

    Returns:
        The decoded data (an instance of ``type`` when given).

    Raises:
        ReadError: The file is missing or unreadable (and, with ``recover``, no backup helps).
        CorruptFileError: The content is damaged; ``offset`` points at the fault.
        SchemaError: The file is valid JSON but does not match ``type``; ``location``
            says where (``$[12].score``).
        ValueError: ``type`` given with ``restore_types=False``.
        TypeError: msgspec does not support ``type``.

    """
    if type is not None and not restore_types:
        raise ValueError("read_json: a typed read restores tagged values; type= needs restore_types=True")
    try:
        raw = read_bytes(path)
        if type is None:
            data = decode_json_bytes(raw, path, restore_types=restore_types)
        else:
            data = decode_typed(raw, path, type)
    except SchemaError:
        raise  # the file is intact; recovery would only find the same mismatch
    except ReadError as exc:
        if not recover:
            raise
        from stalwart.fallbacks._recovery import recover_json

        report = recover_json(path, restore_types=restore_types)
        _log.warning("read %s with recovery after %s: %s", path, exc, report.summary())
        return report.data if type is None else convert_to(report.data, type, path)
    _stats.count("reads")
    return data


def _encode_line(record: Any, nan: NanPolicy) -> bytes:
    # stalwart.core.Record and other Structs: their own schema, decoded back as dicts.
    tagged = record if isinstance(record, msgspec.Struct) else encode_types(record, nan)
    try:
        return _ENCODER.encode(tagged)
    except UnicodeEncodeError as exc:
        raise unencodable_text(record, exc) from exc


def encode_jsonl_lines(records: Iterable[Any], nan: NanPolicy = "raise") -> list[bytes]:
    r"""Encode each record as one JSON line (with ``\n``).

    Raises:
        UnsupportedTypeError: ``value_path`` starts with the record's index.

    """
    return map_items(lambda record: _encode_line(record, nan) + b"\n", records)


def append_jsonl(
    records: Iterable[Any],
    path: str | os.PathLike[str],
    *,
    durable: bool = True,
    nan: NanPolicy = "raise",
    lock_timeout: float | None = DEFAULT_LOCK_TIMEOUT,
) -> int:
    r"""Append records to a JSON Lines file, one line each, under the file's lock.

    Every record is encoded before anything is written, so a bad value appends
    nothing. If the file's last line lacks its ``\n`` (a writer was killed
    mid-append, or a hand-made file), it is settled first and no byte of it is
    ever destroyed: a provably whole record (valid JSON, and an object, array,
    string, ``true``, ``false`` or ``null``) or a blank line only gets its
    newline; anything else — unparsable, or a bare number, which may be cut
    short (``12`` of ``12345``) — is moved, byte for byte, to the sidecar file
    ``<path>.torn`` (appended, one tail per line, synced), logged and counted
    as ``torn_lines_dropped``, then cut off, so it never reads as a record
    mid-file.

    Args:
        records: Values to append (``msgspec.Struct`` such as ``Record`` are welcome).
        path: The JSON Lines file (created if missing).
        durable: ``fsync`` after appending.
        nan: NaN / infinity policy.
        lock_timeout: Seconds to wait for ``<path>.lock``.

    Returns:
        How many records were appended.

    Raises:
        UnsupportedTypeError: A record cannot be encoded (nothing appended).
        WriteError: The append failed and left nothing of itself: a write or
            ``fsync`` that failed part-way (disk full, a file size limit) is
            cut back off, so retrying never duplicates records (the lines
            before it are intact; a torn tail is cut off only once it is safe
            in the sidecar).

    """
    lines = encode_jsonl_lines(records, nan)
    if not lines:
        return 0
    count = len(lines)
    real_path = resolve_target(path)
    flags = os.O_RDWR | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
    with counted_write(real_path), file_lock(real_path, lock_timeout):
        created = not os.path.exists(real_path)
        fd = os.open(real_path, flags, 0o666)
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n" and _settle_torn_line(fd, size, real_path):
                lines.insert(0, b"\n")  # the last record only lost its newline
            # One write call: with O_APPEND the lines land together even beside other appenders.
            written = _append_or_cut_back(fd, b"".join(lines), real_path, durable=durable)
        except BaseException:
            if created:
                # Cut back to nothing, so removed: a failed append leaves no trace, not even an empty file.
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(real_path)
            raise
        finally:
            os.close(fd)
        if durable and created:
            fsync_directory(os.path.dirname(real_path))
    _stats.count("writes")
    _stats.count("bytes_written", written)
    return count


def _settle_torn_line(fd: int, size: int, path: str) -> bool:
    r"""Deal with a last line that has no ``\n`` (a writer was killed mid-append, or a hand-made file).

    Returns True if the line is a provably whole record that only lost its
    newline, or blank (it is kept). Otherwise — it does not parse, or it is a
    number that may be cut short (``12`` of ``12345``) — closing it with a
    newline could pass it off as a wrong record mid-file, and deleting it could
    destroy a real one (``1\n2\n3``): its exact bytes are appended to the
    sidecar ``<path>.torn`` and synced, and only then is it cut off the file
    (logged, counted as ``torn_lines_dropped``); False is returned.
    """
    start = size
    while start > 0:
        length = min(start, 1 << 16)
        cut = _pread_exactly(fd, length, start - length).rfind(b"\n")
        if cut >= 0:
            start = start - length + cut + 1
            break
        start -= length
    tail = _pread_exactly(fd, size - start, start)
    if not tail.strip() or torn_line_is_whole(tail):
        return True
    sidecar = _keep_in_sidecar(tail, path, fd)
    os.ftruncate(fd, start)
    _stats.count("torn_lines_dropped")
    _log.warning(
        "moved the torn last line of %s (byte %d, %d bytes, not provably a whole record) to %s: %r",
        path,
        start,
        len(tail),
        sidecar,
        tail[:200],
    )
    return False


def _keep_in_sidecar(tail: bytes, path: str, data_fd: int) -> str:
    r"""Append ``tail`` and a ``\n`` to ``<path>.torn``, durably; return the sidecar's path.

    A new sidecar gets the data file's permissions (it holds the same kind of
    bytes). Called under the data file's lock: a write that fails part-way is cut
    back off, so the next tail never fuses with half of this one on one line.
    """
    sidecar = f"{path}.torn"
    flags = os.O_WRONLY | os.O_APPEND | getattr(os, "O_CLOEXEC", 0)
    try:
        # Owner-only until it has the data file's mode: never readable by more than the data.
        fd = os.open(sidecar, flags | os.O_CREAT | os.O_EXCL, 0o600)
        created = True
    except FileExistsError:
        fd = os.open(sidecar, flags)
        created = False
    try:
        if created and os.name != "nt":
            os.fchmod(fd, stat.S_IMODE(os.fstat(data_fd).st_mode))
        _append_or_cut_back(fd, tail + b"\n", sidecar, durable=True)
    finally:
        os.close(fd)
    if created:
        fsync_directory(os.path.dirname(sidecar))
    return sidecar


def _append_or_cut_back(fd: int, data: bytes, path: str, *, durable: bool) -> int:
    """Append ``data`` to ``fd`` (``O_APPEND``, under the file's lock), synced if ``durable``: all or nothing.

    A write or ``fsync`` that fails part-way (disk full, a file size limit, an
    I/O error) would leave the lines before the failure, and a torn one, in the
    file: a caller retrying after the error would then append them twice. So
    the file is cut back to its size before the call, then the error re-raised.

    Returns:
        Bytes written.

    """
    size = os.fstat(fd).st_size
    try:
        written = write_all(fd, (data,))
        if durable:
            os.fsync(fd)
    except BaseException:
        try:
            os.ftruncate(fd, size)
            if durable:
                os.fsync(fd)
        except OSError as exc:
            _log.error("cannot cut %s back to %d bytes after a failed append: %s", path, size, exc)
        raise
    return written


def _pread_exactly(fd: int, length: int, offset: int) -> bytes:
    chunks = []
    while length > 0:
        chunk = os.pread(fd, length, offset)
        if not chunk:
            raise OSError(f"file shrank while reading byte {offset}")
        chunks.append(chunk)
        length -= len(chunk)
        offset += len(chunk)
    return b"".join(chunks)


def iter_jsonl(
    path: str | os.PathLike[str], *, skip_invalid: bool = False, restore_types: bool = True
) -> Iterator[Any]:
    """Yield each value of a JSON Lines file, lazily.

    Args:
        path: The file.
        skip_invalid: Skip (log and count) bad lines, and a last line without
            its newline that is not provably whole, instead of raising.
        restore_types: Turn tagged values back into their Python types.

    Yields:
        One value per non-blank line. A last line without its newline is
        yielded if it is provably whole (an object, array, string, ``true``,
        ``false`` or ``null``); a bare number there may be cut short (``12`` of
        ``12345``) and counts as torn.

    Raises:
        ReadError: The file cannot be opened.
        CorruptFileError: A line is not valid JSON, or the last line has no
            newline and is not provably whole (``line`` and ``offset`` say which).

    """
    with open_for_reading(path) as handle:
        offset = 0
        for number, line in enumerate(handle, start=1):
            start = offset
            offset += len(line)
            if not line.strip():
                continue
            value: Any = None
            cause: Exception | None = None
            reason: str | None = None
            if line.endswith(b"\n") or torn_line_is_whole(line):
                try:
                    value = decode_json_line(_DECODER, line)
                    if restore_types and MARKER_BYTES in line:
                        value = decode_types(value)
                except (msgspec.DecodeError, UnicodeDecodeError, TagError) as exc:
                    cause = exc
                    reason = f"invalid JSON line: {cause}"
            else:
                # Only the last line can lack it, and this one is not provably whole:
                # the write may have been cut off, even if what is left parses (``12`` of ``12345``).
                reason = TORN_LAST_LINE
            if reason is not None:
                if not skip_invalid:
                    raise CorruptFileError(path, reason, offset=start, line=number) from cause
                _stats.count("invalid_lines_skipped")
                _log.warning("skipping invalid line %d of %s (byte %d): %s", number, path, start, reason)
                continue
            yield value
        _stats.count("reads")
        _stats.count("bytes_read", offset)


_WHITESPACE = " \t\r\n"
_TERMINATOR = re.compile(r"[,\]\s]")


def _is_number(value: Any) -> bool:
    return type(value) is int or type(value) is float


#: The most characters of one token that a chunk's end can cut off so that ``raw_decode``'s error
#: points at the token's start, not at the end: ``-Infinity``, or an escaped surrogate pair
#: (``\ud83d\ude00``, 12 characters). A cut anywhere else is reported at the end of the text.
_LONGEST_CUT_TOKEN = 12


def _cut_by_the_buffer_end(exc: json.JSONDecodeError, length: int) -> bool:
    """Return True if ``exc`` may only mean that the text (``length`` characters) ends mid-element.

    Only then can more text help. A string still open at the end is reported where
    it starts (it may be long); every other cut within ``_LONGEST_CUT_TOKEN`` of the end.
    """
    return exc.msg.startswith("Unterminated string") or length - exc.pos <= _LONGEST_CUT_TOKEN


def iter_json_array(
    path: str | os.PathLike[str], *, chunk_size: int = 1 << 16, restore_types: bool = True
) -> Iterator[Any]:
    """Yield the elements of a (large) top-level JSON array in bounded memory.

    Memory holds one chunk plus the element being parsed, not the whole file;
    a damaged element is reported as soon as it is seen, without reading on.

    Args:
        path: A file holding one JSON array.
        chunk_size: Bytes read at a time (at least 1).
        restore_types: Turn tagged values back into their Python types.

    Returns:
        An iterator over the elements, in order.

    Raises:
        ValueError: ``chunk_size`` is below 1 (raised at once, before the file is opened).
        ReadError: The file cannot be opened (raised by the first ``next``).
        CorruptFileError: The file is not an array, is damaged at ``offset``, or an
            element is nested too deeply to decode (elements before the damage have been
            yielded already).

    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, not {chunk_size}")
    return _iter_json_array(path, chunk_size, restore_types)


def _iter_json_array(path: str | os.PathLike[str], chunk_size: int, restore_types: bool) -> Iterator[Any]:
    with open_for_reading(path) as handle:
        yield from _ArrayStream(handle, path, chunk_size, restore_types)
    _stats.count("reads")


class _ArrayStream:
    """Incremental parser behind :func:`iter_json_array` (string-aware via ``raw_decode``)."""

    def __init__(
        self, handle: Any, path: str | os.PathLike[str], chunk_size: int, restore_types: bool
    ) -> None:
        self._handle = handle
        self._path = path
        self._chunk_size = chunk_size
        self._restore = restore_types
        self._utf8 = codecs.getincrementaldecoder("utf-8")()
        self._decoder = strict_json_decoder()  # NaN / Infinity are not JSON, as for read_json
        self._buffer = ""
        self._base = 0  # bytes of the file before self._buffer[0]
        self._eof = False

    def _offset(self, position: int) -> int:
        return self._base + len(self._buffer[:position].encode("utf-8", "surrogatepass"))

    def _fail(self, reason: str, position: int) -> CorruptFileError:
        return CorruptFileError(self._path, reason, offset=self._offset(position))

    def _fill(self, position: int) -> int:
        """Drop the consumed text, read more; return the new position of ``position``."""
        self._base = self._offset(position)
        self._buffer = self._buffer[position:]
        # Read at least as much as is buffered, so a huge element costs O(n) re-parses, not O(n^2).
        size = max(self._chunk_size, len(self._buffer))
        chunk = self._handle.read(size)
        _stats.count("bytes_read", len(chunk))
        self._eof = not chunk
        try:
            self._buffer += self._utf8.decode(chunk, final=self._eof)
        except UnicodeDecodeError as exc:
            # exc.start counts from the bytes the decoder held back from the last chunk (a split
            # character), which begin right after the decoded text.
            raise CorruptFileError(
                self._path, f"invalid UTF-8: {exc.reason}", offset=self._offset(len(self._buffer)) + exc.start
            ) from exc
        return 0

    def _skip_ws(self, position: int) -> int:
        while True:
            buffer = self._buffer
            while position < len(buffer) and buffer[position] in _WHITESPACE:
                position += 1
            if position < len(buffer) or self._eof:
                return position
            position = self._fill(position)

    def __iter__(self) -> Iterator[Any]:
        position = self._skip_ws(0)
        if position >= len(self._buffer) or self._buffer[position] != "[":
            raise self._fail("not a JSON array", position)
        position = self._skip_ws(position + 1)
        if position < len(self._buffer) and self._buffer[position] == "]":
            self._check_trailing(position + 1)
            return
        while True:
            if position >= len(self._buffer):
                raise self._fail("truncated: array not closed", position)
            try:
                value, end = self._decoder.raw_decode(self._buffer, position)
            except json.JSONDecodeError as exc:
                if self._eof or not _cut_by_the_buffer_end(exc, len(self._buffer)):
                    # Damage, not the end of the chunk: reading on would pull the rest of the file
                    # into memory before failing the same way.
                    raise self._fail(f"damaged element: {exc.msg}", exc.pos) from exc
                position = self._fill(position)
                continue
            except ValueError as exc:  # NaN / Infinity: complete, and refused
                raise self._fail(f"damaged element: {exc}", position) from exc
            except RecursionError as exc:
                raise self._fail(NESTED_TOO_DEEPLY, position) from exc
            if not self._eof and (
                end == len(self._buffer) or (_is_number(value) and not _TERMINATOR.search(self._buffer, end))
            ):
                # A number may go on in the next chunk ("-0" + ".5"): parse it again with more text.
                position = self._fill(position)
                continue
            if self._restore and type(value) in (dict, list):
                try:
                    value = decode_types(value)
                except TagError as exc:
                    raise self._fail(str(exc), position) from exc
            after = self._skip_ws(end)  # may read on: indices before this are stale
            if after >= len(self._buffer):
                raise self._fail("truncated: array not closed", after)
            delimiter = self._buffer[after]
            if delimiter not in ",]":
                raise self._fail(f"expected ',' or ']', found {delimiter!r}", after)
            yield value
            if delimiter == "]":
                self._check_trailing(after + 1)
                return
            position = self._skip_ws(after + 1)

    def _check_trailing(self, position: int) -> None:
        position = self._skip_ws(position)
        if position < len(self._buffer):
            raise self._fail("trailing data after the array", position)
