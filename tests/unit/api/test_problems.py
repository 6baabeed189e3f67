"""The problem middleware's answer when the Kubernetes API is down or stalled: a retryable 503, never a 500."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from taskops.api.problems import PROBLEM_JSON, problem_middleware
from taskops.clients.errors import api_error


def answer(exc: BaseException) -> web.Response:
    async def handler(_: web.Request) -> web.StreamResponse:
        raise exc

    response = asyncio.run(problem_middleware(make_mocked_request("POST", "/api/v1/tasks/t/run"), handler))
    assert isinstance(response, web.Response)
    return response


@pytest.mark.parametrize(
    "exc",
    [
        aiohttp.ClientConnectionError("connection refused"),
        aiohttp.ServerDisconnectedError(),
        TimeoutError(),
        api_error(503, {"reason": "ServiceUnavailable", "message": "etcd leader changed"}),
        api_error(504, {"reason": "Timeout", "message": "request did not complete within the allotted timeout"}),
    ],
)
def test_an_unreachable_kubernetes_api_is_a_503_problem_with_retry_after(exc: BaseException) -> None:
    response = answer(exc)
    assert response.status == 503
    assert response.content_type == PROBLEM_JSON
    assert response.headers["Retry-After"] == "1"
    assert isinstance(response.text, str)
    body = json.loads(response.text)
    assert (body["status"], body["type"]) == (503, "https://taskops.dev/problems/kubernetes-unavailable")


def test_other_failures_stay_502_and_500() -> None:
    assert answer(api_error(500, {"message": "internal"})).status == 502
    assert answer(RuntimeError("bug")).status == 500
