"""Validate a Run's params against its Task's params schema (seed 000) with seed 002's null rules.

- an absent key takes the declared default (or is missing, if required);
- `null` omits the param, overriding its default (an error if it is required);
- `""` passes an empty value (a string; wrong type for the others).
Every problem is reported with its location and offending value, all at once.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from taskops.domain.resources import jsonbounds
from taskops.domain.resources.paramenv import env_name, env_value
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
    schema: list[ParamSpec], values: dict[str, Any] | None, location: str = "spec.params", partial: bool = False
) -> tuple[dict[str, Any], list[FieldError]]:
    """The params a Run executes with (after defaults and nulls), and every error found. `partial`: a batch run's
    own params, whose required ones each input supplies (`validate_inputs`)."""
    values = values or {}
    try:
        jsonbounds.check_depth(values)
    except jsonbounds.TooDeep as exc:
        # A Run written with kubectl (the API refuses such a body); the value itself is not repeated.
        return {}, [FieldError(f"{location}.{exc.path}" if exc.path else location, str(exc), None)]
    return _resolve(schema, {p.name: p for p in schema}, values, location, partial)


def _resolve(
    schema: list[ParamSpec], declared: dict[str, ParamSpec], values: dict[str, Any], location: str, partial: bool
) -> tuple[dict[str, Any], list[FieldError]]:
    errors = (
        [FieldError(f"{location}.{name}", "unknown parameter", values[name]) for name in values if name not in declared]
        if not declared.keys() >= values.keys()
        else []
    )
    resolved: dict[str, Any] = {}
    for spec in schema:
        value = values.get(spec.name, _ABSENT)
        if value is _ABSENT:
            if spec.default is not None:
                resolved[spec.name] = spec.default
            elif spec.required and not partial:
                errors.append(FieldError(f"{location}.{spec.name}", "required parameter is missing", None))
            continue
        if value is None:
            if spec.required:
                errors.append(FieldError(f"{location}.{spec.name}", "required parameter cannot be null", None))
            continue
        if not _type_ok(spec.type, value):
            errors.append(FieldError(f"{location}.{spec.name}", f"must be of type {spec.type}", value))
            continue
        if spec.enum is not None and value not in spec.enum:
            errors.append(FieldError(f"{location}.{spec.name}", f"must be one of {json.dumps(spec.enum)}", value))
            continue
        resolved[spec.name] = value
    return resolved, errors


# A batch of 100,000 inputs may have an error in each: the answer lists this many, then says how many more.
MAX_INPUT_ERRORS = 1000


def validate_inputs(
    schema: list[ParamSpec], inputs: list[Any], location: str = "body.inputs"
) -> tuple[list[Any], list[FieldError]]:
    """Each element of a batch (seed 004 `inputs`) checked like one run's params (seed 004 `input`); the elements'
    nesting depth is the caller's to bound (the API parses bodies with `jsonbounds`).

    With a params schema, every element is an object of params, returned resolved (defaults in, nulls out), its
    errors located as `body.inputs[17].orderId`; past MAX_INPUT_ERRORS only a count is added. Without one,
    elements are opaque values passed as they are (its batch pod gets an object as
    its params, any other value as `input` in its params file: batchparams.element_params).
    """
    if not schema:
        return inputs, []
    # Depth is bounded where the body was parsed (jsonbounds): not walked again per element.
    declared = {p.name: p for p in schema}
    resolved: list[Any] = []
    errors: list[FieldError] = []
    total = 0
    for i, element in enumerate(inputs):
        if not isinstance(element, dict):
            shown = None if isinstance(element, list) else element
            found = [FieldError(f"{location}[{i}]", "must be an object of params", shown)]
            params: dict[str, Any] = {}
        else:
            params, found = _resolve(schema, declared, element, f"{location}[{i}]", False)
        # Same size and no error: the same params (no default added, no null dropped); keep the parsed object.
        resolved.append(element if not found and len(params) == len(element) else params)
        if found:
            total += len(found)
            if len(errors) < MAX_INPUT_ERRORS:
                errors += found[: MAX_INPUT_ERRORS - len(errors)]
    if total > len(errors):
        errors.append(FieldError(location, f"{total - len(errors)} more errors not listed", None))
    return resolved, errors


_INTEGER = re.compile(r"^[+-]?[0-9]+$")
_TRUTH = {"true": True, "false": False}


def _from_string(kind: ParamType, text: str) -> Any:
    """`text` as a value of type `kind`; ValueError with the reason when it is not one."""
    if kind == "integer" or (kind == "number" and _INTEGER.match(text.strip())):
        if not _INTEGER.match(text.strip()):
            raise ValueError(f"cannot be converted to an integer: {text!r}")
        try:
            return int(text)
        except ValueError:  # past Python's 4,300-digit bound: a 422, not a 500
            raise ValueError("cannot be converted to an integer: too many digits") from None
    if kind == "number":
        try:
            number = float(text)
        except ValueError:
            raise ValueError(f"cannot be converted to a number: {text!r}") from None
        if not math.isfinite(number):
            raise ValueError(f"cannot be converted to a finite number: {text!r}")
        return number
    if kind == "boolean":
        if text.lower() not in _TRUTH:
            raise ValueError(f'cannot be converted to a boolean: {text!r} (send "true" or "false")')
        return _TRUTH[text.lower()]
    if kind == "json":
        try:
            return jsonbounds.loads(text)
        except jsonbounds.TooDeep as exc:
            raise ValueError(f"JSON text {exc}") from None
        except json.JSONDecodeError as exc:
            raise ValueError(f"is not JSON text: {exc.msg}") from None
    return text


def coerce_strings(
    schema: list[ParamSpec], values: dict[str, Any] | None, location: str
) -> tuple[dict[str, Any] | None, list[FieldError]]:
    """Seed 002's params, sent as strings (`string | null`), converted to each param's declared type.

    `"5"` → 5 for an integer, `"2.5"` → 2.5 for a number, `"true"`/`"false"` → booleans, JSON text → its value
    for a json param. A string param, a value that is not a string, `null`, `""` (seed 002: an empty value) and
    an undeclared name are left as they are, for `validate_params` to judge. A string that cannot be converted
    is an error naming the param.
    """
    if not values:
        return values, []
    declared = {p.name: p.type for p in schema}
    out, errors = dict(values), []
    for name, value in values.items():
        kind = declared.get(name)
        if kind in (None, "string") or not isinstance(value, str) or value == "":
            continue
        try:
            out[name] = _from_string(kind, value)
        except ValueError as exc:
            errors.append(FieldError(f"{location}.{name}", str(exc), value))
    return out, errors
