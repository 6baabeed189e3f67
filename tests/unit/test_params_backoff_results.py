"""Params validation (every rule, exact locations), backoff sequences, result checking."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from taskops.domain import backoff
from taskops.domain.params import FieldError, ParamSpec, env_name, env_value, validate_params
from taskops.domain.results import check_result, schema_error

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


# -- backoff ----------------------------------------------------------------------------------------


def test_fixed_and_linear_sequences() -> None:
    assert [backoff.delay("fixed", n, 5, 60) for n in range(1, 5)] == [5, 5, 5, 5]
    assert [backoff.delay("linear", n, 5, 12) for n in range(1, 5)] == [5, 10, 12, 12]


@given(st.integers(1, 200), st.floats(0.1, 100), st.floats(1, 5000), st.text(max_size=8))
def test_exponential_jitter_bounds(n: int, base: float, cap: float, seed: str) -> None:
    d = backoff.delay("exponential_jitter", n, base, cap, seed)
    full = min(cap, base * 2 ** min(n - 1, 64))
    assert full / 2 <= d <= full <= cap
    assert d == backoff.delay("exponential_jitter", n, base, cap, seed)  # a restart computes the same delay


def test_exponential_doubles_until_the_cap() -> None:
    ds = [backoff.delay("exponential_jitter", n, 10, 100, "run") for n in range(1, 7)]
    fulls = [10, 20, 40, 80, 100, 100]
    assert all(f / 2 <= d <= f for d, f in zip(ds, fulls, strict=True))
    with pytest.raises(ValueError):
        backoff.delay("fixed", 0)


# -- results ----------------------------------------------------------------------------------------

RESULT_SCHEMA = {"type": "object", "required": ["count"], "properties": {"count": {"type": "integer"}}}


def test_results() -> None:
    assert check_result('{"count": 3}', RESULT_SCHEMA) == ({"count": 3}, None)
    assert check_result("hello", None) == ("hello", None)
    assert check_result(None, None) == (None, None)
    _, err = check_result("not json", RESULT_SCHEMA)
    assert err is not None and err.startswith("the result is not JSON")
    value, err = check_result('{"count": "3"}', RESULT_SCHEMA)
    assert value == {"count": "3"} and err is not None and "at count" in err and "integer" in err
    _, err = check_result(None, RESULT_SCHEMA)
    assert err is not None and "no result" in err
    assert schema_error({"type": "nonsense"}) is not None
    assert schema_error(RESULT_SCHEMA) is None
