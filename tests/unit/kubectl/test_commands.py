"""Params on the command line, typed by the Task's declaration."""

from __future__ import annotations

import pytest

from taskops.domain.resources.params import ParamSpec, validate_params
from taskops.kubectl import exits
from taskops.kubectl.commands import parse_params
from taskops.kubectl.session import CliError

SCHEMA = [
    ParamSpec(name="name", type="string"),
    ParamSpec(name="limit", type="integer"),
    ParamSpec(name="ratio", type="number"),
    ParamSpec(name="dry_run", type="boolean"),
    ParamSpec(name="cfg", type="json"),
]


def test_values_are_text_for_strings_and_json_for_the_other_types() -> None:
    pairs = ["name=42", "limit=5", "ratio=0.5", "dry_run=true", 'cfg={"a": [1]}', "extra=x"]
    assert parse_params(pairs, SCHEMA) == {
        "name": "42",
        "limit": 5,
        "ratio": 0.5,
        "dry_run": True,
        "cfg": {"a": [1]},
        "extra": "x",
    }


def test_colon_equals_takes_any_json_and_null_omits() -> None:
    params = parse_params(["name:=null", "limit:=7", "empty="], SCHEMA)
    assert params == {"name": None, "limit": 7, "empty": ""}


def test_a_value_of_the_wrong_type_is_left_for_the_shared_check_to_name() -> None:
    params = parse_params(["limit=many"], SCHEMA)
    _, errors = validate_params(SCHEMA, params, "param")
    assert [(e.location, e.message, e.value) for e in errors] == [("param.limit", "must be of type integer", "many")]


@pytest.mark.parametrize(("pair", "code"), [("limit", exits.USAGE), ("=3", exits.USAGE), ("cfg:={", exits.INVALID)])
def test_malformed_pairs_are_refused(pair: str, code: int) -> None:
    with pytest.raises(CliError) as err:
        parse_params([pair], SCHEMA)
    assert err.value.code == code
