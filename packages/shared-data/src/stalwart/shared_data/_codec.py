"""Value codecs: turn a stored value into bytes and back, refusing what would not round-trip.

Each codec checks a value *before* encoding it, so a value that would come
back different (a tuple as a list, a set as a list, NaN as ``null``) is
refused with :class:`UnsupportedValueError` instead of being stored wrong.
"""

from __future__ import annotations

import datetime
import math
import pickle
from typing import Any, Final

import msgspec
from stalwart.shared_data._errors import UnsupportedValueError

__all__ = ["CODEC_NAMES", "Codec", "get_codec"]

#: Nesting deeper than this is refused (it also stops cycles from recursing forever).
MAX_DEPTH: Final = 200

_INT64_MIN: Final = -(2**63)
_UINT64_MAX: Final = 2**64 - 1


class Codec:
    """Base of the codecs; a codec is stateless and safe to share between threads.

    Attributes:
        name: The name stored in the file and accepted by ``SharedStore(codec=...)``.
    """

    name: str = ""

    def encode(self, key: str, value: Any) -> bytes:
        """Return ``value`` as bytes.

        Args:
            key: The key the value is stored under, named in errors.
            value: The value to encode.

        Returns:
            The encoded bytes.

        Raises:
            UnsupportedValueError: The value (or a part of it) cannot be stored faithfully.
        """
        raise NotImplementedError

    def decode(self, data: bytes) -> Any:
        """Return the value ``data`` encodes.

        Args:
            data: Bytes produced by :meth:`encode`.

        Returns:
            The decoded value.

        Raises:
            ValueError: The bytes are not a valid encoding (the store reports it as corruption).
        """
        raise NotImplementedError


def _type_name(value: object) -> str:
    return type(value).__qualname__


class _CheckedCodec(Codec):
    """A codec over plain data: the value is walked and checked, then encoded by msgspec."""

    supported = ""

    def __init__(
        self,
        encoder: msgspec.msgpack.Encoder | msgspec.json.Encoder,
        decoder: msgspec.msgpack.Decoder[Any] | msgspec.json.Decoder[Any],
    ) -> None:
        self._encoder = encoder
        self._decoder = decoder

    def scalar_problem(self, value: object) -> str | None:
        """Return why the non-container ``value`` is refused, or ``None`` if it is fine."""
        raise NotImplementedError

    def _refuse(self, key: str, where: str, value: object, reason: str) -> UnsupportedValueError:
        return UnsupportedValueError(
            key=key, where=where, value_type=_type_name(value), codec=self.name, reason=reason
        )

    def _check(self, key: str, value: object) -> None:
        # Iterative walk: deep values must not hit Python's recursion limit.
        stack: list[tuple[object, str, int]] = [(value, "", 0)]
        while stack:
            item, where, depth = stack.pop()
            if isinstance(item, (list, dict)):
                if depth >= MAX_DEPTH:
                    raise self._refuse(key, where, item, f"nests deeper than {MAX_DEPTH} levels")
                if isinstance(item, list):
                    stack.extend((child, f"{where}[{i}]", depth + 1) for i, child in enumerate(item))
                    continue
                for child_key, child in item.items():
                    if not isinstance(child_key, str):
                        raise self._refuse(
                            key,
                            f"{where}[{child_key!r}]",
                            child_key,
                            "is not allowed as a mapping key (only str is)",
                        )
                    stack.append((child, f"{where}[{child_key!r}]", depth + 1))
                continue
            problem = self.scalar_problem(item)
            if problem is not None:
                raise self._refuse(key, where, item, problem)

    def encode(self, key: str, value: Any) -> bytes:
        """Check ``value`` is plain data this codec round-trips, then encode it (see :meth:`Codec.encode`)."""
        self._check(key, value)
        try:
            return self._encoder.encode(value)
        except OverflowError as exc:
            # A value the checks let through but msgspec cannot represent: still "cannot store".
            raise self._refuse(key, "", value, f"cannot be encoded: {exc}") from exc

    def decode(self, data: bytes) -> Any:
        """Decode msgspec bytes (see :meth:`Codec.decode`); ``msgspec.DecodeError`` is a ``ValueError``."""
        return self._decoder.decode(data)


class _MsgpackCodec(_CheckedCodec):
    name = "msgpack"
    supported = "dict (str keys), list, str, int (64-bit), float, bool, None, bytes, timezone-aware datetime"

    def __init__(self) -> None:
        super().__init__(msgspec.msgpack.Encoder(), msgspec.msgpack.Decoder())

    def scalar_problem(self, value: object) -> str | None:
        if value is None or isinstance(value, (bool, float, str, bytes)):
            return None
        if isinstance(value, int):
            return None if _INT64_MIN <= value <= _UINT64_MAX else "is outside the 64-bit integer range"
        if isinstance(value, datetime.datetime):
            if value.tzinfo is None:
                return "is naive (give it a tzinfo)"
            try:
                # It is stored as a UTC timestamp: 0001-01-01 00:00+05:00 has no UTC year.
                value.astimezone(datetime.timezone.utc)
            except OverflowError:
                return "is outside the datetime range once converted to UTC"
            return None
        return f"is not supported (supported: {self.supported})"


class _JsonCodec(_CheckedCodec):
    name = "json"
    supported = "dict (str keys), list, str, int, finite float, bool, None"

    def __init__(self) -> None:
        super().__init__(msgspec.json.Encoder(), msgspec.json.Decoder())

    def scalar_problem(self, value: object) -> str | None:
        if value is None or isinstance(value, (bool, int, str)):
            return None
        if isinstance(value, float):
            return None if math.isfinite(value) else "is not finite (JSON has no NaN or infinity)"
        return f"is not supported (supported: {self.supported})"


class _PickleCodec(Codec):
    name = "pickle"

    def encode(self, key: str, value: Any) -> bytes:
        """Pickle ``value`` (see :meth:`Codec.encode`)."""
        try:
            return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        # pickle raises whatever the object's __reduce__ raises; all of them mean "cannot store".
        except (pickle.PicklingError, TypeError, AttributeError, RecursionError, ValueError) as exc:
            raise UnsupportedValueError(
                key=key,
                where="",
                value_type=_type_name(value),
                codec=self.name,
                reason=f"cannot be pickled: {exc}",
            ) from exc

    def decode(self, data: bytes) -> Any:
        try:
            return pickle.loads(data)
        except Exception as exc:
            # Unpickling garbage can raise nearly anything; report it as undecodable bytes.
            raise ValueError(f"cannot unpickle: {type(exc).__name__}: {exc}") from exc


_CODECS: Final[dict[str, type[Codec]]] = {
    "msgpack": _MsgpackCodec,
    "json": _JsonCodec,
    "pickle": _PickleCodec,
}

#: The codec names ``SharedStore(codec=...)`` accepts.
CODEC_NAMES: Final = tuple(_CODECS)


def get_codec(name: str) -> Codec:
    """Return a new codec called ``name``.

    Args:
        name: One of :data:`CODEC_NAMES`.

    Returns:
        The codec.

    Raises:
        ValueError: ``name`` is not a known codec.
    """
    try:
        return _CODECS[name]()
    except (KeyError, TypeError):
        raise ValueError(f"unknown codec {name!r}; choose one of {', '.join(CODEC_NAMES)}") from None
