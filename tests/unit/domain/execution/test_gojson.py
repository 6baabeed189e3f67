"""ControllerRevision `data` written as the API server's Go encoder writes it (issue 18 §5).

The expected bytes below are what Go's encoding/json printed for the same input after the API server's
decoding (int64 where the number is one, float64 otherwise); a random sample of 5,000 documents agreed too.
One exception: Go writes -0.0 as -0, which its next decoding reads as the integer 0; we write 0 at once.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from taskops.domain.execution import gojson, versions
from tests.unit.decisions import make_task

NUMBERS = (
    "[1.0,-0.0,0.0,1e-7,1.5e-7,1e21,1e20,123456789.125,1e16,18446744073709551616,"
    "9223372036854775807,-9223372036854775808,9223372036854775808]"
)
GO_NUMBERS = (
    b'{"a":[1,0,0,1e-7,1.5e-7,1e+21,100000000000000000000,123456789.125,10000000000000000,18446744073709552000,'
    b'9223372036854775807,-9223372036854775808,9223372036854776000],"b":1}'
)
STRINGS = (
    r'{"s":"a && b <c> \u2028\u2029 é 😀 \u0000\u001f\b\f\n\r\t\"\\ /",'
    r'"z":null,"t":true,"y":{"é":1,"e":2,"E":3,"~":4}}'
)
GO_STRINGS = (
    r'{"s":"a \u0026\u0026 b \u003cc\u003e \u2028\u2029 é 😀 \u0000\u001f\b\f\n\r\t\"\\ /",'
    r'"t":true,"y":{"E":3,"e":2,"~":4,"é":1},"z":null}'
).encode()


@pytest.mark.parametrize(("document", "expected"), [('{"b":1,"a":' + NUMBERS + "}", GO_NUMBERS), (STRINGS, GO_STRINGS)])
def test_bytes_are_what_go_writes(document: str, expected: bytes) -> None:
    assert gojson.dumps(json.loads(document)) == expected


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(JSON)
def test_the_form_is_a_fixed_point_and_means_the_same(value: Any) -> None:
    """What the API server does on every patch: decode and re-encode. Canonical bytes come back unchanged."""
    once = gojson.dumps(value)
    assert gojson.dumps(json.loads(once)) == once
    assert same(json.loads(once), value)


def same(a: Any, b: Any) -> bool:
    """Equal as JSON values, numbers as the float64 the API server holds (Go may write 6.1e16 as 61000000000000000)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    numbers = (int, float)
    if isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool) and not isinstance(b, bool):
        return a == b or float(a) == float(b)
    return bool(a == b and type(a) is type(b))


def test_too_deep_or_not_json_is_refused() -> None:
    deep: Any = 1
    for _ in range(gojson.MAX_DEPTH + 2):
        deep = [deep]
    with pytest.raises(ValueError, match="nested deeper"):
        gojson.dumps(deep)
    with pytest.raises(TypeError):
        gojson.dumps({"a": object()})
    with pytest.raises(ValueError):
        gojson.dumps(float("nan"))


def test_a_revision_body_round_trips() -> None:
    task = make_task(command=["sh", "-c", "a && b > c"], title="déjà vu")
    body = versions.next_revision(task, [])
    assert body is not None
    raw = gojson.dumps(body)
    assert gojson.dumps(json.loads(raw)["data"]) == gojson.dumps(body["data"])
    assert b"\\u0026\\u0026" in raw
