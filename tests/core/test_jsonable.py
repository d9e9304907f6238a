from __future__ import annotations

import math
from typing import Any

import msgspec
from hypothesis import given
from hypothesis import strategies as st
from stalwart.core import safe_repr, to_jsonable
from stalwart.core._jsonable import MAX_DEPTH


def test_json_values_pass_through_and_tuples_become_lists() -> None:
    value = {"a": [1, 2.5, None, True, "x"], "b": (1, (2, 3))}
    assert {"a": [1, 2.5, None, True, "x"], "b": [1, [2, 3]]} == to_jsonable(value)


def test_non_json_values_become_their_repr() -> None:
    assert "{1, 2}" == to_jsonable({1, 2})
    assert "inf" == to_jsonable(math.inf)
    assert repr(-(2**64)) == to_jsonable(-(2**64))
    assert {"3": "x"} == to_jsonable({3: "x"})


def test_cycles_and_deep_nesting_stop_at_max_depth() -> None:
    cyclic: list[Any] = []
    cyclic.append(cyclic)
    out = to_jsonable(cyclic)
    depth = 0
    while isinstance(out, list):
        out = out[0]
        depth += 1
    assert MAX_DEPTH == depth
    assert "[[...]]" == out


@given(
    st.recursive(
        st.integers() | st.floats() | st.text() | st.binary(),
        lambda c: st.lists(c) | st.tuples(c) | st.frozensets(st.integers()),
    )
)
def test_output_is_always_encodable(value: object) -> None:
    out = to_jsonable(value)
    assert out == msgspec.json.decode(msgspec.json.encode(out))
    assert out == msgspec.msgpack.decode(msgspec.msgpack.encode(out))


def test_converted_keys_never_overwrite_real_ones() -> None:
    assert {"1": "str", "'1'": "int"} == to_jsonable({1: "int", "1": "str"})
    assert {"1": "str", "'1'": "int"} == to_jsonable({"1": "str", 1: "int"})


def test_lone_surrogates_in_strings_and_keys_become_escapes() -> None:
    bad = "x\udcff"
    assert {"x\\udcff": ["x\\udcff"]} == to_jsonable({bad: [bad]})


class _ReprRaises:
    def __repr__(self) -> str:
        raise RuntimeError("detached from its session")


class _StrRaises:
    def __str__(self) -> str:
        raise RuntimeError("no str")

    __repr__ = __str__


def test_safe_repr_never_raises() -> None:
    assert "_ReprRaises object at 0x" in safe_repr(_ReprRaises())
    assert hex(10**5000) == safe_repr(10**5000)  # repr refuses ints past 4300 digits
    assert "[1, 2]" == safe_repr([1, 2])


def test_to_jsonable_keeps_values_whose_repr_or_str_raise() -> None:
    converted = to_jsonable({"user": _ReprRaises(), "count": 10**5000, _StrRaises(): "kept"})
    assert "_ReprRaises object at 0x" in converted["user"]
    assert hex(10**5000) == converted["count"]
    assert ["kept"] == [value for key, value in converted.items() if "_StrRaises object at 0x" in key]
