"""Validate a Run's params against its Task's params schema (seed 000) with seed 002's null rules.

- an absent key takes the declared default (or is missing, if required);
- `null` omits the param, overriding its default (an error if it is required);
- `""` passes an empty value (a string; wrong type for the others).
Every problem is reported with its location and offending value, all at once.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from taskops.domain.resources import jsonbounds
from taskops.domain.resources.paramspec import ParamSpec, ParamType

_ABSENT = object()

__all__ = ["FieldError", "ParamSpec", "env_name", "env_value", "validate_params", "validation_errors"]


@dataclass(frozen=True)
class FieldError:
    """One validation problem: where (e.g. `spec.params.limit`), what, and the value found."""

    location: str
    message: str
    value: Any = None

    def render(self) -> str:
        return f"{self.location}: {self.message} (got {json.dumps(self.value)})"


def validation_errors(exc: ValidationError, where: str) -> list[FieldError]:
    """A pydantic error as FieldErrors located under `where` (`body.params`): the API's 422 and the REST
    client's own check of a request before it is sent say the same."""
    errors = []
    for err in exc.errors(include_url=False):
        path = ".".join(str(part) for part in err["loc"])
        message = err["msg"] if err["type"] != "extra_forbidden" else "unknown field (see the OpenAPI document)"
        value = err.get("input") if err["type"] != "missing" else None
        errors.append(FieldError(f"{where}.{path}" if path else where, message, _jsonable(value)))
    return errors


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return str(value)
    return value


def _type_ok(kind: ParamType, value: Any) -> bool:
    if kind == "string":
        return isinstance(value, str)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "boolean":
        return isinstance(value, bool)
    return True


def validate_params(
    schema: list[ParamSpec], values: dict[str, Any] | None, location: str = "spec.params"
) -> tuple[dict[str, Any], list[FieldError]]:
    """The params a Run executes with (after defaults and nulls), and every error found."""
    values = values or {}
    try:
        jsonbounds.check_depth(values)
    except jsonbounds.TooDeep as exc:
        # A Run written with kubectl (the API refuses such a body); the value itself is not repeated.
        return {}, [FieldError(f"{location}.{exc.path}" if exc.path else location, str(exc), None)]
    declared = {p.name: p for p in schema}
    errors = [
        FieldError(f"{location}.{name}", "unknown parameter", value)
        for name, value in values.items()
        if name not in declared
    ]
    resolved: dict[str, Any] = {}
    for spec in schema:
        where = f"{location}.{spec.name}"
        value = values.get(spec.name, _ABSENT)
        if value is _ABSENT:
            if spec.default is not None:
                resolved[spec.name] = spec.default
            elif spec.required:
                errors.append(FieldError(where, "required parameter is missing", None))
            continue
        if value is None:
            if spec.required:
                errors.append(FieldError(where, "required parameter cannot be null", None))
            continue
        if not _type_ok(spec.type, value):
            errors.append(FieldError(where, f"must be of type {spec.type}", value))
            continue
        if spec.enum is not None and value not in spec.enum:
            errors.append(FieldError(where, f"must be one of {json.dumps(spec.enum)}", value))
            continue
        resolved[spec.name] = value
    return resolved, errors


def env_name(name: str) -> str:
    return "TASKOPS_PARAM_" + re.sub(r"[^A-Za-z0-9_]", "_", name).upper()


def env_value(value: Any) -> str:
    """Strings as they are; everything else as JSON (so `true`, `3`, `{"a": 1}` read back exactly)."""
    return value if isinstance(value, str) else json.dumps(value)
