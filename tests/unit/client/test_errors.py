"""Error answers become typed problems carrying the `errors` list; bad arguments are refused before sending."""

from __future__ import annotations

import json

import pytest

from taskops.client import Client, Invalid, NotFound, ProblemError, ServerError, ServiceUnavailable
from taskops.client import endpoints as ep
from taskops.client.aio import _fill, _held_for
from taskops.client.errors import error_for


def test_a_problem_answer_is_its_typed_exception() -> None:
    body = {
        "type": "https://taskops.dev/problems/validation",
        "title": "Unprocessable Entity",
        "status": 422,
        "detail": "body.params.limit: must be an integer",
        "errors": [{"location": "body.params.limit", "message": "must be an integer", "value": "x"}],
    }
    error = error_for(422, "Unprocessable Entity", json.dumps(body))
    assert isinstance(error, Invalid) and error.status == 422
    assert [(e.location, e.value) for e in error.errors] == [("body.params.limit", "x")]
    assert isinstance(error_for(404, "Not Found", json.dumps({"title": "Not Found", "status": 404})), NotFound)
    assert isinstance(error_for(503, "x", "{}"), ServiceUnavailable)


def test_an_answer_that_is_not_a_problem_still_is_one() -> None:
    error = error_for(502, "Bad Gateway", "<html>proxy says no</html>")
    assert isinstance(error, ServerError) and error.problem.title == "Bad Gateway"
    assert error.problem.detail == "<html>proxy says no</html>" and error.errors == []
    assert type(error_for(418, "Teapot", "")) is ProblemError


def test_bad_arguments_are_refused_before_anything_is_sent() -> None:
    with Client("http://127.0.0.1:9", token="t") as client:  # nothing listens there: nothing may be sent
        with pytest.raises(Invalid) as caught:
            client.run("t", reference="x" * 300)
        assert [e.location for e in caught.value.errors] == ["body.reference"]
        with pytest.raises(Invalid) as caught:
            client.create_task({"title": "x", "payload": {}, "retries": 3})
        assert "body.retries" in [e.location for e in caught.value.errors]


def test_path_values_are_quoted_as_one_segment() -> None:
    assert _fill("/api/v1/actions/{name}/{mode}", ("a/b c", "live")) == "/api/v1/actions/a%2Fb%20c/live"


def test_a_waiting_request_is_given_its_wait_to_answer() -> None:
    assert _held_for(ep.GET_RUN, {"wait": True, "wait_timeout": 40}) == 40.0
    assert _held_for(ep.RUN_002, {"wait": True}) == 300.0, "the API's default wait"
    assert _held_for(ep.RUN_ACTION, {}) == 300.0, "live waits unless told not to"
    assert _held_for(ep.RUN_ACTION, {"wait": False}) == 0.0
    assert _held_for(ep.LIST_RUNS, {"limit": 5}) == 0.0
