"""A run's result: the JSON its container writes to /dev/termination-log, checked by the Task's schema.

Kubernetes keeps at most 4096 bytes of a termination message (and 12 KiB for all
containers of a pod); a longer result is truncated by the kubelet and then fails
as invalid JSON.
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema

TERMINATION_MESSAGE_LIMIT = 4096


def check_result(message: str | None, schema: dict[str, Any] | None) -> tuple[Any, str | None]:
    """(result, error): the parsed result, or why it is not acceptable. No schema: any text is kept."""
    if schema is None:
        if message is None:
            return None, None
        try:
            return json.loads(message), None
        except ValueError:
            return message, None
    if message is None or not message.strip():
        return None, "the container wrote no result to /dev/termination-log"
    try:
        value = json.loads(message)
    except ValueError as exc:
        return None, f"the result is not JSON: {exc}"
    validator = jsonschema.Draft202012Validator(schema)
    problems = sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
    if problems:
        first = problems[0]
        where = "/".join(str(p) for p in first.absolute_path) or "(root)"
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        return value, f"the result does not match resultSchema at {where}: {first.message}{more}"
    return value, None


def schema_error(schema: dict[str, Any]) -> str | None:
    """Why `schema` is not a valid JSON Schema, or None."""
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        return str(exc.message)
    return None
