"""JSON bytes exactly as the API server's Go encoder (encoding/json) writes them.

Why: a ControllerRevision's `data` is a RawExtension, kept as the bytes it was created with, and
immutable. A strategic-merge patch of the revision (the garbage collector sends one to remove an owner
reference on `kubectl delete --cascade=orphan`) decodes the object, re-encodes `data` with Go's
encoder, and compares bytes: any other spelling of the same JSON is refused with `data: field is
immutable`. Bytes written by this module are already in that form, so they survive the round trip.

Go's encoder: object keys sorted (by UTF-8 bytes, which is code-point order), no whitespace, `<`,
`>` and `&` written as \\u003c \\u003e \\u0026, U+2028 and U+2029 escaped, other characters as UTF-8.
The API server reads a number as int64 when it is one, as float64 otherwise, and writes a float64
in the shortest form that reads back the same: fixed notation from 1e-6 up to 1e21, else exponent
notation without a leading zero in the exponent (1e-7, 1.5e+21).
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
# Below Python's recursion limit; a Task's spec is nowhere near it (its schema is a few levels deep).
MAX_DEPTH = 500
_HTML_SAFE = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"})


def _string(text: str) -> str:
    # json.dumps escapes `"`, `\`, \b \f \n \r \t and the other control characters (\u00XX, lower-case
    # hex) as Go does; the characters Go also escapes can only occur inside strings, never in syntax.
    return json.dumps(text, ensure_ascii=False).translate(_HTML_SAFE)


def _float(value: float) -> str:
    if not math.isfinite(value):
        raise ValueError(f"{value!r} is not a JSON number")
    if value == 0:
        # Go writes -0.0 as "-0", then reads that back as the integer 0: "0" is the form that stays put.
        return "0"
    magnitude = abs(value)
    if magnitude < 1e-6 or magnitude >= 1e21:
        # repr is the shortest round-tripping form, and in exponent notation throughout this range.
        mantissa, _, exponent = repr(value).partition("e")
        sign, digits = exponent[0], exponent[1:].lstrip("0") or "0"
        return f"{mantissa}e{sign}{digits.zfill(2) if sign == '+' else digits}"
    fixed = format(Decimal(repr(value)), "f")
    return fixed.rstrip("0").rstrip(".") if "." in fixed else fixed


def _encode(value: Any, out: list[str], depth: int) -> None:
    if depth > MAX_DEPTH:
        raise ValueError(f"nested deeper than {MAX_DEPTH} levels")
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        out.append(_string(value))
    elif isinstance(value, int):
        # Beyond int64 the API server holds a float64.
        out.append(str(value) if INT64_MIN <= value <= INT64_MAX else _float(float(value)))
    elif isinstance(value, float):
        out.append(_float(value))
    elif isinstance(value, dict):
        out.append("{")
        for i, key in enumerate(sorted(value)):
            if not isinstance(key, str):
                raise TypeError(f"object key {key!r} is not a string")
            if i:
                out.append(",")
            out.append(_string(key))
            out.append(":")
            _encode(value[key], out, depth + 1)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _encode(item, out, depth + 1)
        out.append("]")
    else:
        raise TypeError(f"{type(value).__name__} is not JSON")


def dumps(value: Any) -> bytes:
    """`value` as Go's json.Marshal of the API server's decoding of it would write it."""
    out: list[str] = []
    _encode(value, out, 0)
    return "".join(out).encode()
