"""Result checking against a Task's resultSchema (domain/resources/results.py)."""

from __future__ import annotations

from taskops.domain.resources.results import check_result, schema_error

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
