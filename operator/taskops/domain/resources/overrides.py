"""Per-run overrides (seed 003): six built-in ones every Task accepts, plus those a Task declares.

The built-ins are `prompt`, `model`, `provider`, `response_format`, `json_schema` and
`use_cached_workflow`. A Task's `spec.overrides` entry of the same name replaces the
built-in (a narrower type or an `enum`; `enum: []` forbids it), other entries add
overrides. Two of them change what taskops itself does with the run:

- `json_schema` replaces the Task's resultSchema for this run. It is a JSON Schema
  object, or the JSON text of one (seed 003 sends a string), and is checked with the
  same bounds as a resultSchema (`results.schema_error`);
- `response_format`: `json` makes the result the parsed termination message (a message
  that is not JSON fails the run), `text` keeps the message as the raw text it is. Unset:
  JSON when the message parses, else the text (the behaviour without overrides).

Every override reaches the containers like a param (docs/execution.md): a
`TASKOPS_OVERRIDE_<NAME>` variable and the `overrides` object of the params file.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

from taskops.domain.resources import jsonbounds
from taskops.domain.resources.params import FieldError, validate_params
from taskops.domain.resources.paramspec import ParamSpec
from taskops.domain.resources.results import schema_error

Provider = Literal["openai", "deepseek", "anthropic", "google", "groq", "mistral", "together"]
ResponseFormat = Literal["text", "json"]
ENV_PREFIX = "TASKOPS_OVERRIDE_"
JSON_SCHEMA = "json_schema"
RESPONSE_FORMAT = "response_format"

BUILTIN: tuple[ParamSpec, ...] = (
    ParamSpec(name="prompt", type="string", description="Override the task's prompt."),
    ParamSpec(name="model", type="string", description="Override the model."),
    ParamSpec(name="provider", type="string", enum=list(get_args(Provider)), description="Override the provider."),
    ParamSpec(
        name=RESPONSE_FORMAT,
        type="string",
        enum=list(get_args(ResponseFormat)),
        description="The result as the raw termination message (text) or its parsed JSON (json).",
    ),
    ParamSpec(
        name=JSON_SCHEMA, type="json", description="A JSON Schema replacing the task's resultSchema for this run."
    ),
    ParamSpec(name="use_cached_workflow", type="boolean", description="Override use of a cached workflow."),
)
BUILTIN_NAMES = frozenset(p.name for p in BUILTIN)


def declared(task_overrides: list[ParamSpec] | None) -> list[ParamSpec]:
    """The overrides a Task accepts: the built-ins, each replaced by the Task's entry of the same name, then its own."""
    own = {p.name: p for p in task_overrides or []}
    return [own.pop(p.name, p) for p in BUILTIN] + list(own.values())


def validate_overrides(
    task_overrides: list[ParamSpec] | None, values: dict[str, Any] | None, location: str
) -> tuple[dict[str, Any], list[FieldError]]:
    """The overrides a run executes with (`json_schema` parsed to an object) and every error, located under
    `location` (`body` for seed 003's flat body, `spec.overrides` on a Run)."""
    resolved, errors = validate_params(declared(task_overrides), values, location)
    schema = resolved.get(JSON_SCHEMA)
    if schema is not None:
        where = f"{location}.{JSON_SCHEMA}"
        parsed, problem = _schema(schema)
        if problem is not None:
            errors.append(FieldError(where, problem, schema if isinstance(schema, str) and len(schema) < 200 else None))
        else:
            resolved[JSON_SCHEMA] = parsed
            if resolved.get(RESPONSE_FORMAT) == "text":
                errors.append(FieldError(where, "a result schema needs response_format json (or unset)", None))
    return resolved, errors


def _schema(value: Any) -> tuple[dict[str, Any] | None, str | None]:
    if isinstance(value, str):
        try:
            value = jsonbounds.loads(value)
        except ValueError as exc:
            return None, f"not JSON: {exc}"
    if not isinstance(value, dict):
        return None, "must be a JSON Schema object (or its JSON text)"
    problem = schema_error(value)
    return (None, f"not an acceptable JSON Schema: {problem}") if problem is not None else (value, None)


def result_rules(
    task_schema: dict[str, Any] | None, overrides: dict[str, Any] | None
) -> tuple[dict[str, Any] | None, bool]:
    """(schema, as_text) for a run's result: the run's json_schema or else the Task's resultSchema; `{}` (any JSON)
    when response_format is json without a schema; as_text when response_format is text."""
    overrides = overrides or {}
    schema = overrides.get(JSON_SCHEMA)
    if not isinstance(schema, dict):
        schema = task_schema
    response_format = overrides.get(RESPONSE_FORMAT)
    if schema is None and response_format == "json":
        schema = {}
    return schema, response_format == "text"
