"""The release key's create-if-absent (clients/webhookkey.py): one key per Secret, never replaced, bounded retries."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import pytest

from taskops.clients import errors, webhookkey


class FakeApi:
    """Answers create and get from a script: each entry is an object to return or an exception to raise."""

    def __init__(self, creates: list[Any], gets: list[Any]) -> None:
        self.creates, self.gets = creates, gets
        self.bodies: list[dict[str, Any]] = []

    async def create(self, res: Any, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        self.bodies.append(body)
        answer = self.creates.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return body if answer == "made" else answer

    async def get(self, res: Any, namespace: str, name: str) -> dict[str, Any]:
        answer = self.gets.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer


def secret(key: bytes) -> dict[str, Any]:
    return {"data": {"secret": base64.b64encode(key).decode()}}


def ensure(api: FakeApi) -> webhookkey.ReleaseKey:
    async def go() -> webhookkey.ReleaseKey:
        return await webhookkey.ensure(api, "taskops-system", "taskops-webhook")

    return asyncio.run(go())


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    async def instant(_: float) -> None:
        return None

    monkeypatch.setattr(webhookkey.asyncio, "sleep", instant)


def test_the_first_create_makes_a_key_in_one_request() -> None:
    api = FakeApi(["made"], [])
    got = ensure(api)
    assert got.created and got.key is not None and len(got.key) == 48 and got.key.isalnum()
    [body] = api.bodies
    assert body["metadata"]["name"] == "taskops-webhook" and body["type"] == "Opaque"
    assert "app.kubernetes.io/instance" not in body["metadata"]["labels"] and "ownerReferences" not in body["metadata"]
    assert len({webhookkey.new_key() for _ in range(50)}) == 50


def test_a_409_reads_the_winners_key_and_a_read_that_finds_nothing_creates_again() -> None:
    exists = errors.AlreadyExists(409, {"reason": "AlreadyExists"})
    assert ensure(FakeApi([exists], [secret(b"theirs")])) == webhookkey.ReleaseKey(b"theirs", created=False)
    gone = errors.NotFound(404, {"reason": "NotFound", "message": 'secrets "taskops-webhook" not found'})
    api = FakeApi([exists, "made"], [gone])
    assert ensure(api).created and len(api.bodies) == 2
    assert ensure(FakeApi([exists], [{"data": {}}])) == webhookkey.ReleaseKey(None, created=False)


def test_transient_errors_are_retried_a_bounded_number_of_times_and_refusals_never() -> None:
    busy = errors.ApiError(503, {"reason": "ServiceUnavailable"})
    assert ensure(FakeApi([busy, TimeoutError(), "made"], [])).created
    api = FakeApi([busy] * webhookkey.ATTEMPTS, [])
    with pytest.raises(errors.ApiError):
        ensure(api)
    assert len(api.bodies) == webhookkey.ATTEMPTS
    forbidden = errors.ApiError(403, {"reason": "Forbidden"})
    api = FakeApi([forbidden], [])
    with pytest.raises(errors.ApiError):
        ensure(api)
    assert len(api.bodies) == 1
    no_namespace = errors.NotFound(404, {"reason": "NotFound", "message": 'namespaces "x" not found'})
    api = FakeApi([no_namespace], [])
    with pytest.raises(errors.NotFound):
        ensure(api)
    assert len(api.bodies) == 1
