"""How deep a tenant's JSON may nest: request bodies, free-form CR fields (params, metadata, results) and schemas.

Python's JSON decoder, pydantic, jsonschema and `json.dumps` all recurse: a value
nested a thousand levels deep raises RecursionError (a 500 with a traceback in
the API, a crashed reconcile in the operator), and the operator's JSON decoder
(orjson) refuses more than 1,024 levels in a watch event. No real body needs
more than a few levels, so every value a tenant writes is bounded well below both.
"""

from __future__ import annotations

import json
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
