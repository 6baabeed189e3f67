"""A run's result: the JSON its container writes to /dev/termination-log, checked by the Task's schema.

Kubernetes keeps at most 4096 bytes of a termination message (and 12 KiB for all
containers of a pod); a longer result is truncated by the kubelet and then fails
as invalid JSON.

A resultSchema is a tenant's program run by the operator, so it is checked when
the Task is written (`schema_error`) and again before each use: it must be a
valid 2020-12 schema, small and shallow, refer only to itself, and use no
regular expression (`pattern`, `patternProperties`): Python's regex engine
backtracks, and a pattern as plain as `.*a.*b` takes minutes on a 4 KiB string,
with the whole process stalled (docs/security.md, section 2).
"""

from __future__ import annotations

import functools
import json
from typing import Any

import jsonschema
import referencing.exceptions

from taskops.domain.resources import jsonbounds

TERMINATION_MESSAGE_LIMIT = 4096
# The largest resultSchema accepted (its JSON text); a result is at most 4096 bytes, its schema need not be huge.
MAX_SCHEMA_BYTES = 64 * 1024
_REGEX_KEYWORDS = ("pattern", "patternProperties")
_REF_KEYWORDS = ("$ref", "$dynamicRef")


def check_result(message: str | None, schema: dict[str, Any] | None, as_text: bool = False) -> tuple[Any, str | None]:
    """(result, error): the parsed result, or why it is not acceptable. No schema: any text is kept.
    `as_text` (a run's response_format text): the result is the message as written; a schema still judges it."""
    if as_text:
        return message, (check_result(message, schema)[1] if schema is not None else None)
    if schema is None:
        if message is None:
            return None, None
        try:
            return jsonbounds.loads(message), None
        except ValueError:
            # Not JSON, or too deep to keep as JSON: kept as the text it is.
            return message, None
    if message is None or not message.strip():
        return None, "the container wrote no result to /dev/termination-log"
    try:
        value = jsonbounds.loads(message)
    except jsonbounds.TooDeep as exc:
        return None, f"the result is not accepted: {exc} (at {exc.path or '(root)'})"
    except ValueError as exc:
        return None, f"the result is not JSON: {exc}"
    invalid = schema_error(schema)
    if invalid is not None:
        return value, f"the task's resultSchema is invalid: {invalid}"
    validator = jsonschema.Draft202012Validator(schema)
    try:
        problems = sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
    except (jsonschema.exceptions.UnknownType, referencing.exceptions.Unresolvable, RecursionError) as exc:
        return value, f"the task's resultSchema cannot be applied: {exc}"
    if problems:
        first = problems[0]
        where = "/".join(str(p) for p in first.absolute_path) or "(root)"
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        return value, f"the result does not match resultSchema at {where}: {first.message}{more}"
    return value, None


def schema_error(schema: dict[str, Any]) -> str | None:
    """Why `schema` is not an acceptable resultSchema, or None (cached: one Task's schema is checked often)."""
    try:
        text = json.dumps(schema, sort_keys=True)
    except (TypeError, ValueError, RecursionError):
        return "not a JSON object"
    return _text_error(text)


@functools.lru_cache(maxsize=1024)
def _text_error(text: str) -> str | None:
    if len(text) > MAX_SCHEMA_BYTES:
        return f"larger than {MAX_SCHEMA_BYTES} bytes of JSON"
    try:
        schema = jsonbounds.loads(text, jsonbounds.MAX_DEPTH)
    except jsonbounds.TooDeep as exc:
        return f"{exc} (at {exc.path or '(root)'})"
    problem = _keyword_error(schema, "")
    if problem is not None:
        return problem
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        where = "/".join(str(p) for p in exc.absolute_path)
        return f"{exc.message} (at {where})" if where else str(exc.message)
    return None


def _keyword_error(node: Any, path: str) -> str | None:
    """A keyword taskops does not evaluate: a regular expression, or a reference outside the schema."""
    if isinstance(node, list):
        for i, item in enumerate(node):
            if (found := _keyword_error(item, f"{path}/{i}")) is not None:
                return found
        return None
    if not isinstance(node, dict):
        return None
    for key, value in node.items():
        where = f"{path}/{key}"
        if key in _REGEX_KEYWORDS:
            return (
                f"{key} is not accepted (at {where}): regular expressions from a task are not evaluated by the "
                "operator (a backtracking pattern stalls it); check the format in the container instead"
            )
        if key in _REF_KEYWORDS and isinstance(value, str) and not value.startswith("#"):
            return f"{key} {value!r} refers outside the schema (at {where}): only local references (#...) are read"
        # Also inside const, enum and examples values: a false alarm there costs less than walking schemas exactly.
        if (found := _keyword_error(value, where)) is not None:
            return found
    return None
