"""How deep a tenant's JSON may nest: request bodies, free-form CR fields (params, metadata, results) and schemas.

Python's JSON decoder, pydantic, jsonschema and `json.dumps` all recurse: a value
nested a thousand levels deep raises RecursionError (a 500 with a traceback in
the API, a crashed reconcile in the operator), and the operator's JSON decoder
(orjson) refuses more than 1,024 levels in a watch event. No real body needs
more than a few levels, so every value a tenant writes is bounded well below both.
"""

from __future__ import annotations

import json
import re
from typing import Any

# The deepest nesting accepted in a body, a param or metadata value, a result or a resultSchema.
MAX_DEPTH = 64


class TooDeep(ValueError):
    """A JSON value nested deeper than the bound; `path` is where (dotted, from the value's root)."""

    def __init__(self, path: str, limit: int) -> None:
        super().__init__(f"nested deeper than {limit} levels")
        self.path = path
        self.limit = limit


def check_depth(value: Any, limit: int = MAX_DEPTH) -> None:
    """Raise TooDeep naming the first container below `limit` levels of nesting (iterative: no recursion)."""
    stack: list[tuple[Any, int, str]] = [(value, 1, "")]
    while stack:
        node, depth, path = stack.pop()
        if isinstance(node, dict):
            items: Any = node.items()
        elif isinstance(node, list):
            items = enumerate(node)
        else:
            continue
        if depth > limit:
            raise TooDeep(path, limit)
        for key, child in items:
            if isinstance(child, dict | list):
                stack.append((child, depth + 1, f"{path}.{key}" if path else str(key)))


def loads(text: str | bytes, limit: int = MAX_DEPTH) -> Any:
    """`json.loads`, refusing values nested deeper than `limit` (ValueError; TooDeep names where)."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise TooDeep("", limit) from None
    check_depth(value, limit)
    return value


# Beyond this depth a document read from the API server is cut (see `cut_deep`): far below the 1,024 levels orjson
# decodes and Python's recursion limit, and above MAX_DEPTH plus the levels of any object around a tenant's value,
# so a cut value still fails `check_depth` where it is validated.
CUT_DEPTH = 2 * MAX_DEPTH
CUT_MARK = f"<taskops: nested deeper than {CUT_DEPTH} levels, not read>"
# One JSON string (escapes included) or one bracket: linear, every character is matched one way only.
_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)


def cut_deep(raw: bytes, limit: int = CUT_DEPTH) -> bytes:
    """`raw` JSON with every container below `limit` levels replaced by the string CUT_MARK.

    The API server stores values nested up to 10,000 levels; one such object in a list page or a
    watch event would make the whole page unreadable, so the cut keeps every other object readable
    and leaves the deep one for its validation to refuse (it is still deeper than MAX_DEPTH there).
    """
    out: list[bytes] = []
    depth, kept, cut_from = 0, 0, -1
    mark = json.dumps(CUT_MARK).encode()
    for token in _TOKEN.finditer(raw):
        char = token.group()[:1]
        if char in (b"[", b"{"):
            depth += 1
            if depth == limit + 1 and cut_from < 0:
                cut_from = token.start()
        elif char in (b"]", b"}"):
            depth -= 1
            if depth == limit and cut_from >= 0:
                out.append(raw[kept:cut_from])
                out.append(mark)
                kept, cut_from = token.end(), -1
    out.append(raw[kept:])
    return b"".join(out)
