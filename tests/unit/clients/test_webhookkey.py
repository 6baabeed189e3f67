"""The release key's create-if-absent (clients/webhookkey.py): one key per Secret, never replaced, bounded retries."""

from __future__ import annotations

import asyncio
import base64
from typing import Any, cast

import pytest

from taskops.clients import errors, webhookkey
from taskops.clients.kube import KubeClient
from taskops.clients.resources import SECRETS
from tests.unit.fakes import FakeKube

NS, NAME = "taskops-system", "taskops-webhook"


def secret(data: dict[str, str]) -> dict[str, Any]:
    """The Secret as another operator replica made it first."""
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": NAME, "namespace": NS}, "data": data}


def key_data(key: bytes) -> dict[str, str]:
    return {"secret": base64.b64encode(key).decode()}


def creates(kube: FakeKube) -> list[tuple[str, str, str]]:
    return [call for call in kube.calls if call[:2] == ("create", SECRETS.plural)]


def ensure(kube: FakeKube) -> webhookkey.ReleaseKey:
    async def go() -> webhookkey.ReleaseKey:
        return await webhookkey.ensure(cast(KubeClient, kube), NS, NAME)

    return asyncio.run(go())


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    async def instant(_: float) -> None:
        return None

    monkeypatch.setattr(webhookkey.asyncio, "sleep", instant)


def test_the_first_create_makes_a_key_in_one_request() -> None:
    kube = FakeKube()
    got = ensure(kube)
    assert got.created and got.key is not None and len(got.key) == 48 and got.key.isalnum()
    assert len(creates(kube)) == 1
    [body] = kube.of(SECRETS)
    assert body["metadata"]["name"] == NAME and body["type"] == "Opaque"
    assert "app.kubernetes.io/instance" not in body["metadata"]["labels"] and "ownerReferences" not in body["metadata"]
    assert len({webhookkey.new_key() for _ in range(50)}) == 50


def test_a_409_reads_the_winners_key_and_a_read_that_finds_nothing_creates_again() -> None:
    kube = FakeKube()
    kube.put(SECRETS, secret(key_data(b"theirs")))
    assert ensure(kube) == webhookkey.ReleaseKey(b"theirs", created=False)
    kube = FakeKube()
    # The winner's Secret is deleted between our create's 409 and our read.
    kube.fail_next("create", errors.AlreadyExists(409, {"reason": "AlreadyExists"}))
    kube.fail_next("get", errors.NotFound(404, {"reason": "NotFound", "message": f'secrets "{NAME}" not found'}))
    assert ensure(kube).created and len(creates(kube)) == 2
    kube = FakeKube()
    kube.put(SECRETS, secret({}))
    assert ensure(kube) == webhookkey.ReleaseKey(None, created=False)


def test_transient_errors_are_retried_a_bounded_number_of_times_and_refusals_never() -> None:
    busy = errors.ApiError(503, {"reason": "ServiceUnavailable"})
    kube = FakeKube()
    kube.fail_next("create", busy)
    kube.fail_next("create", TimeoutError())
    assert ensure(kube).created
    kube = FakeKube()
    kube.fail_next("create", busy, times=webhookkey.ATTEMPTS)
    with pytest.raises(errors.ApiError):
        ensure(kube)
    assert len(creates(kube)) == webhookkey.ATTEMPTS
    kube = FakeKube()
    kube.fail_next("create", errors.ApiError(403, {"reason": "Forbidden"}))
    with pytest.raises(errors.ApiError):
        ensure(kube)
    assert len(creates(kube)) == 1
    kube = FakeKube()
    kube.fail_next("create", errors.NotFound(404, {"reason": "NotFound", "message": 'namespaces "x" not found'}))
    with pytest.raises(errors.NotFound):
        ensure(kube)
    assert len(creates(kube)) == 1 and kube.of(SECRETS) == []
