"""One JSON object per line, with field names shared with :class:`stalwart.core.Record`."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import msgspec
from stalwart.core import current_host, safe_repr, to_jsonable
from stalwart.monitoring import _fields
from stalwart.monitoring._fields import exception_text, record_message

__all__ = ["JSONFormatter", "json_default"]


def json_default(value: Any) -> Any:
    """Stand-in for values JSON cannot carry: their ``repr`` (kept as text, never dropped).

    A ``__repr__`` that raises (an ORM object detached from its session) gives the default
    ``<Type object at 0x...>`` instead, so the record is still written.
    """
    return safe_repr(value)


class _Line(msgspec.Struct, omit_defaults=True, gc=False):
    """One output line; a Struct encodes faster than a dict and leaves unset fields out.

    Not tracked by the garbage collector: a line lives for one ``format`` call
    and nothing refers back to it, so it can never be part of a cycle.
    """

    ts: str
    ts_ns: int
    level: int
    level_name: str
    logger: str
    message: str
    pid: int
    process: str
    thread: int
    thread_name: str
    host: str
    module: str | None = None
    func: str | None = None
    line: int | None = None
    path: str | None = None
    exc: str | None = None
    stack: str | None = None
    correlation_id: str | None = None
    extra: dict[str, Any] | None = None


_LINE_BREAKS = {0x85: "\\u0085", 0x2028: "\\u2028", 0x2029: "\\u2029"}
_LogRecord = logging.LogRecord
_STDLIB_GET_MESSAGE = _fields._STDLIB_GET_MESSAGE  # see _fields.message_and_extras
_BUFFER_SIZE = 1024
# A buffer that held a longer line is dropped, so one huge traceback does not pin its memory.
_BUFFER_KEPT = 64 * 1024


class _Attributes:
    """Read a record's fields by attribute, like ``record.__dict__[name]`` reads a plain ``LogRecord``'s.

    Used for ``LogRecord`` subclasses, whose fields may be properties.
    """

    __slots__ = ("_record",)

    def __init__(self, record: logging.LogRecord) -> None:
        self._record = record

    def __getitem__(self, name: str) -> Any:
        return getattr(self._record, name)

    def get(self, name: str) -> Any:
        return getattr(self._record, name, None)


class JSONFormatter(logging.Formatter):
    r"""Format each record as one compact JSON object on one line.

    Field names are those of :class:`stalwart.core.Record`, so every line
    decodes with ``Record.from_json`` / ``stalwart.core.iter_jsonl``:
    ``ts_ns``, ``level`` (number), ``logger``, ``message``, ``pid``,
    ``process``, ``thread``, ``thread_name``, ``host``, ``module``, ``func``,
    ``line``, ``path``, ``exc`` (traceback text), ``stack``,
    ``correlation_id`` and ``extra`` (the user's ``extra=`` fields and bound
    context). Two fields are added for people and log shippers: ``ts`` (ISO
    8601 UTC: ``ts_ns`` truncated to microseconds) and ``level_name``. User fields live under ``extra`` so they
    can never overwrite a standard field. Newlines are escaped by JSON, so
    one record is always one line. Lone surrogates (undecodable file names
    from ``os.listdir``) are written as ``\udcxx`` text, never lost.

    Args:
        static_fields: Fields added to every record's ``extra`` (e.g. the
            service name); the record's own extras win on a clash.
        include_location: Whether to emit ``module``, ``func``, ``line`` and ``path``.
    """

    def __init__(
        self, static_fields: Mapping[str, Any] | None = None, *, include_location: bool = True
    ) -> None:
        super().__init__()
        self._static = dict(to_jsonable(dict(static_fields))) if static_fields else {}
        self._include_location = include_location
        self._host = current_host()
        self._encoder = msgspec.json.Encoder(enc_hook=json_default)
        # Reused output buffers (encode() would allocate and grow a fresh one per record). A thread takes
        # one out while it encodes (list.pop/append are atomic), so no two threads ever share one.
        self._buffers: list[bytearray] = []

    def _line(self, record: logging.LogRecord, fields: Mapping[str, Any] | _Attributes) -> _Line:
        # The hot path of every log call, so it reads a plain LogRecord's fields from its __dict__ (an attribute
        # read costs about twice as much once the dict exists) and inlines the _fields helpers where a call
        # would cost about as much as their work (_fields.message_and_extras as a call: +3.4% instructions
        # per format, measured with callgrind).
        instance = fields if type(fields) is dict else record.__dict__
        created = fields["created"]
        # record_extras(record), inlined.
        shape = [*instance]
        last, names = _fields._last_shape
        if shape != last:
            names = _fields._extra_keys(shape)
        extras = {}
        for name in names:
            extras[name] = instance[name]
        if self._static:
            extras = {**self._static, **extras}
        if fields is instance and _LogRecord.getMessage is _STDLIB_GET_MESSAGE and "getMessage" not in instance:
            # LogRecord.getMessage, inlined (subclasses may override it: they take the other branch).
            try:
                message = fields["msg"]
                if type(message) is not str:
                    message = str(message)
                args = fields["args"]
                if args:
                    message = message % args
            except Exception:  # noqa: BLE001 - record_message describes any failure
                message = record_message(record)
        else:
            message = record_message(record)
        exc = fields["exc_text"]
        if fields["exc_info"] and not exc:
            exc = exception_text(record, self)
        correlation_id = fields.get("correlation_id")
        if self._include_location:
            module, func, line, path = fields["module"], fields["funcName"], fields["lineno"], fields["pathname"]
        else:
            module = func = line = path = None
        ts_ns = int(created * 1_000_000_000)
        # iso_utc_ns(ts_ns), inlined.
        start, text = _fields._milli
        offset = ts_ns - start
        if not 0 <= offset < 1_000_000:
            start, text = _fields._new_milli(ts_ns)
            offset = ts_ns - start
        return _Line(
            text + _fields._DIGITS_Z[offset // 1000],
            ts_ns,
            fields["levelno"] or 0,  # None in a bare makeLogRecord({"msg": ...}): Record needs an int
            fields["levelname"],
            fields["name"] or "",
            message,
            fields["process"] or 0,
            fields["processName"] or "",
            fields["thread"] or 0,
            fields["threadName"] or "",
            self._host,
            module,
            func,
            line,
            path,
            exc or None,
            fields["stack_info"] or None,
            None if correlation_id is None else str(correlation_id),
            extras or None,
        )

    def to_dict(self, record: logging.LogRecord) -> dict[str, Any]:
        """Return the fields :meth:`format` would encode for ``record`` (unset ones left out).

        Args:
            record: The stdlib record.

        Returns:
            A new dict; values may still need :func:`json_default` for exotic types.
        """
        line = self._line(record, _Attributes(record))
        return {
            name: getattr(line, name) for name in line.__struct_fields__ if getattr(line, name) is not None
        }

    def format(self, record: logging.LogRecord) -> str:
        """Return ``record`` as one line of JSON (no trailing newline)."""
        if type(record) is _LogRecord:
            try:
                fields = self._line(record, record.__dict__)
            except KeyError:
                # A standard attribute was deleted: read it the usual way (and fail the usual way).
                fields = self._line(record, _Attributes(record))
        else:
            fields = self._line(record, _Attributes(record))
        try:
            buffers = self._buffers
            try:
                buffer = buffers.pop()
            except IndexError:
                buffer = bytearray(_BUFFER_SIZE)
            self._encoder.encode_into(fields, buffer)
            line = buffer.decode()
            if len(buffer) <= _BUFFER_KEPT:
                buffers.append(buffer)
        except (TypeError, ValueError, OverflowError, RecursionError):
            # Non-string keys, cycles, lone surrogates, ...: fall back to the slow, total conversion
            # (to_jsonable writes lone surrogates, e.g. from undecodable file names, as \udcxx text).
            line = self._encoder.encode(to_jsonable(self.to_dict(record))).decode()
        if not line.isascii():
            # JSON may carry these raw, but str.splitlines() breaks lines on them: escape them.
            line = line.translate(_LINE_BREAKS)
        return line
