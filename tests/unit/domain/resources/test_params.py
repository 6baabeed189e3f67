"""Params validation (domain/resources/params.py): every rule, exact locations, env rendering."""

from __future__ import annotations

from typing import Any

import pytest

from taskops.domain.resources.params import (
    FieldError,
    ParamSpec,
    coerce_strings,
    env_name,
    env_value,
    validate_params,
)

SCHEMA = [
    ParamSpec(name="order_id", type="string", required=True),
    ParamSpec(name="limit", type="integer", default=10),
    ParamSpec(name="ratio", type="number"),
    ParamSpec(name="dry_run", type="boolean", default=False),
    ParamSpec(name="mode", type="string", enum=["fast", "safe"], default="safe"),
    ParamSpec(name="extra", type="json"),
]


@pytest.mark.parametrize(
    ("values", "resolved", "errors"),
    [
        ({"order_id": "A1"}, {"order_id": "A1", "limit": 10, "dry_run": False, "mode": "safe"}, []),
        ({"order_id": "A1", "limit": None, "mode": None}, {"order_id": "A1", "dry_run": False}, []),
        ({"order_id": ""}, {"order_id": "", "limit": 10, "dry_run": False, "mode": "safe"}, []),
        (
            {"order_id": "A1", "ratio": 2, "extra": {"a": [1]}},
            {"order_id": "A1", "limit": 10, "ratio": 2, "dry_run": False, "mode": "safe", "extra": {"a": [1]}},
            [],
        ),
        (
            {},
            {"limit": 10, "dry_run": False, "mode": "safe"},
            [FieldError("spec.params.order_id", "required parameter is missing", None)],
        ),
        (
            {"order_id": None},
            {"limit": 10, "dry_run": False, "mode": "safe"},
            [FieldError("spec.params.order_id", "required parameter cannot be null", None)],
        ),
        ({"order_id": "A1", "limit": "10"}, None, [FieldError("spec.params.limit", "must be of type integer", "10")]),
        ({"order_id": "A1", "limit": True}, None, [FieldError("spec.params.limit", "must be of type integer", True)]),
        ({"order_id": "A1", "limit": ""}, None, [FieldError("spec.params.limit", "must be of type integer", "")]),
        ({"order_id": "A1", "ratio": "x"}, None, [FieldError("spec.params.ratio", "must be of type number", "x")]),
        (
            {"order_id": "A1", "dry_run": "yes"},
            None,
            [FieldError("spec.params.dry_run", "must be of type boolean", "yes")],
        ),
        (
            {"order_id": "A1", "mode": "slow"},
            None,
            [FieldError("spec.params.mode", 'must be one of ["fast", "safe"]', "slow")],
        ),
        ({"order_id": "A1", "colour": "red"}, None, [FieldError("spec.params.colour", "unknown parameter", "red")]),
    ],
)
def test_params_rules(values: dict[str, Any], resolved: dict[str, Any] | None, errors: list[FieldError]) -> None:
    got, errs = validate_params(SCHEMA, values)
    assert errs == errors
    if resolved is not None:
        assert got == resolved


def test_all_errors_are_reported_at_once() -> None:
    _, errs = validate_params(SCHEMA, {"limit": "x", "mode": "slow", "zzz": 1}, location="body.params")
    assert [e.location for e in errs] == [
        "body.params.zzz",
        "body.params.order_id",
        "body.params.limit",
        "body.params.mode",
    ]
    assert errs[0].render() == "body.params.zzz: unknown parameter (got 1)"


def test_env_rendering() -> None:
    assert env_name("order_id") == "TASKOPS_PARAM_ORDER_ID"
    assert env_value("") == "" and env_value("x") == "x"
    assert env_value(True) == "true" and env_value(3) == "3" and env_value({"a": 1}) == '{"a": 1}'


def test_each_batch_input_is_checked_like_one_runs_params() -> None:
    from taskops.domain.resources.params import MAX_INPUT_ERRORS, validate_inputs

    schema = [ParamSpec(name="orderId", required=True), ParamSpec(name="n", type="integer", default=1)]
    inputs: list[Any] = [{"orderId": f"A-{i}"} for i in range(20)]
    resolved, errors = validate_inputs(schema, inputs)
    assert not errors and resolved[3] == {"orderId": "A-3", "n": 1}, "each element resolved as a run's params"
    inputs[17] = {"n": "x"}
    inputs[18] = "A-18"
    _, errors = validate_inputs(schema, inputs)
    assert [e.location for e in errors] == ["body.inputs[17].orderId", "body.inputs[17].n", "body.inputs[18]"]
    assert validate_inputs([], ["opaque", 3]) == (["opaque", 3], []), "no params schema: elements as they are"
    _, errors = validate_inputs(schema, [{}] * (MAX_INPUT_ERRORS + 5))
    assert len(errors) == MAX_INPUT_ERRORS + 1 and errors[-1].message == "5 more errors not listed"


# --- seed 002's string values (coerce_strings) ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "sent", "converted"),
    [
        ("limit", "5", 5),
        ("limit", "-12", -12),
        ("ratio", "2.5", 2.5),
        ("ratio", "3", 3),
        ("dry_run", "true", True),
        ("dry_run", "False", False),
        ("extra", '{"a": [1, 2]}', {"a": [1, 2]}),
        ("extra", "7", 7),
        ("order_id", "42", "42"),  # a string param keeps its string
        ("limit", 5, 5),  # typed values pass as they are
        ("limit", None, None),  # null still omits the param
        ("limit", "", ""),  # "" is seed 002's empty value: left for validate_params to judge
    ],
)
def test_coerce_strings_converts_to_the_declared_type(name: str, sent: Any, converted: Any) -> None:
    out, errors = coerce_strings(SCHEMA, {name: sent}, "body.params")
    assert errors == []
    assert out == {name: converted}
    assert type(out[name]) is type(converted)


@pytest.mark.parametrize(
    ("name", "sent", "message"),
    [
        ("limit", "5.5", "cannot be converted to an integer"),
        ("limit", "five", "cannot be converted to an integer"),
        ("limit", "9" * 5000, "too many digits"),
        ("ratio", "nan", "finite number"),
        ("ratio", "abc", "cannot be converted to a number"),
        ("dry_run", "yes", "cannot be converted to a boolean"),
        ("extra", "{not json", "is not JSON text"),
        ("extra", "[" * 100 + "]" * 100, "nested deeper than"),
    ],
)
def test_coerce_strings_names_the_param_it_cannot_convert(name: str, sent: str, message: str) -> None:
    _, errors = coerce_strings(SCHEMA, {name: sent, "order_id": "x"}, "body.params")
    assert [(e.location, e.value) for e in errors] == [(f"body.params.{name}", sent)]
    assert message in errors[0].message


def test_coerced_values_then_validate_like_typed_ones() -> None:
    out, errors = coerce_strings(SCHEMA, {"order_id": "A1", "limit": "3", "mode": "slow", "nope": "1"}, "body.params")
    assert errors == []
    _, problems = validate_params(SCHEMA, out, "body.params")
    assert {e.location for e in problems} == {"body.params.mode", "body.params.nope"}
