"""Seed 003's built-in overrides (domain/resources/overrides.py) and what they do to a result."""

from __future__ import annotations

import json

from taskops.domain.resources.overrides import declared, result_rules, validate_overrides
from taskops.domain.resources.paramspec import ParamSpec
from taskops.domain.resources.results import check_result

SCHEMA = {"type": "object", "required": ["n"], "properties": {"n": {"type": "integer"}}}


def test_every_task_accepts_the_six_built_ins_and_may_restrict_or_extend_them() -> None:
    body = {
        "prompt": "say hi",
        "model": "m1",
        "provider": "openai",
        "response_format": "json",
        "json_schema": json.dumps(SCHEMA),
        "use_cached_workflow": True,
    }
    resolved, errors = validate_overrides(None, body, "body")
    assert not errors
    assert resolved == {**body, "json_schema": SCHEMA}, "a schema sent as JSON text is kept as the object"
    narrowed = [ParamSpec(name="model", enum=["small"]), ParamSpec(name="provider", enum=[]), ParamSpec(name="depth")]
    assert [p.name for p in declared(narrowed)][-1] == "depth"
    _, errors = validate_overrides(narrowed, {"model": "big", "provider": "openai", "depth": "3"}, "spec.overrides")
    assert {e.location for e in errors} == {"spec.overrides.model", "spec.overrides.provider"}


def test_bad_overrides_are_all_reported_where_they_are() -> None:
    body = {"provider": "acme", "response_format": "yaml", "use_cached_workflow": "yes", "colour": 1}
    _, errors = validate_overrides(None, body, "body")
    assert {e.location for e in errors} == {
        "body.provider",
        "body.response_format",
        "body.use_cached_workflow",
        "body.colour",
    }
    for bad in ("{not json", "[1]", {"type": "nonsense"}, {"pattern": "a.*b"}):
        _, errors = validate_overrides(None, {"json_schema": bad}, "body")
        assert [e.location for e in errors] == ["body.json_schema"], bad
    _, errors = validate_overrides(None, {"json_schema": SCHEMA, "response_format": "text"}, "body")
    assert [e.location for e in errors] == ["body.json_schema"]


def test_json_schema_replaces_the_tasks_and_response_format_decides_the_result() -> None:
    task_schema = {"type": "string"}
    assert result_rules(task_schema, None) == (task_schema, False)
    assert result_rules(task_schema, {"json_schema": SCHEMA}) == (SCHEMA, False)
    assert result_rules(None, {"response_format": "json"}) == ({}, False)
    assert result_rules(None, {"response_format": "text"}) == (None, True)
    # json: parsed, and a message that is not JSON is an error; text: the raw message; unset: JSON if it parses.
    assert check_result('{"n": 1}', *result_rules(None, {"response_format": "json"})) == ({"n": 1}, None)
    assert check_result("hello", *result_rules(None, {"response_format": "json"}))[1] is not None
    assert check_result('{"n": 1}', *result_rules(None, {"response_format": "text"})) == ('{"n": 1}', None)
    assert check_result('{"n": 1}', None) == ({"n": 1}, None)
    _, error = check_result('{"n": "x"}', *result_rules(task_schema, {"json_schema": SCHEMA}))
    assert error is not None and "at n" in error
    # text with the Task's own schema: the task's contract still judges the result.
    assert check_result('"ok"', *result_rules(task_schema, {"response_format": "text"})) == ('"ok"', None)
