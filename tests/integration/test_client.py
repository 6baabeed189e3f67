"""taskops.client against the real API (issue 24 §2): docs/client.md's examples, the served OpenAPI document,
typed results and problems, idempotency, a rotating token, and 503s retried within their bounds."""

from __future__ import annotations

import asyncio
import contextlib
import io
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from devcluster.cluster import Cluster
from taskops.client import AsyncClient, Client, Invalid, NotFound, RetryPolicy, ServiceUnavailable, Unauthorized
from taskops.client import auth as client_auth
from tests import builders
from tests.clientcontract import mismatches
from tests.integration.api import ApiProcess, Caller, full_access, make_task, service_account
from tests.integration.controlplane import api_server
from tests.paths import OUTPUT, REPO

DOC = REPO / "docs" / "client.md"
DAY = [{"name": "day", "type": "string", "required": True, "description": "The day to report on."}]
REPORT_RESULT = '{"rows": 42}'


def make_report_task(api: Caller, name: str = "nightly-report", duration: str = "3s") -> None:
    make_task(api, name, pods=builders.pod_behaviour(duration=duration, message=REPORT_RESULT), params=DAY,
              result_schema={"type": "object"})  # fmt: skip


@pytest.fixture
def in_pod(api: Caller, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Caller:
    """The client's defaults as in a pod of the test namespace: its token and namespace files, the API's URL."""
    (tmp_path / "token").write_text(api.token or "")
    (tmp_path / "namespace").write_text(api.namespace)
    monkeypatch.setattr(client_auth, "TOKEN_FILE", tmp_path / "token")
    monkeypatch.setattr(client_auth, "NAMESPACE_FILE", tmp_path / "namespace")
    monkeypatch.setenv("TASKOPS_API_URL", api.base)
    return api


def python_blocks(markdown: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", markdown, flags=re.DOTALL)


def test_the_docs_examples_run(in_pod: Caller) -> None:
    make_report_task(in_pod)
    blocks = python_blocks(DOC.read_text())
    assert len(blocks) >= 6, "docs/client.md lost its examples"
    out = io.StringIO()
    scope: dict[str, object] = {"__name__": "docs_client"}
    with contextlib.redirect_stdout(out):
        for block in blocks:
            exec(compile(block, str(DOC), "exec"), scope)  # the documented examples, as written
    printed = out.getvalue()
    assert "SUCCEEDED 0 {'rows': 42}" in printed, printed
    assert "body.params.day - " in printed and "404 " in printed, printed
    assert "'reason': 'maintenance'" in printed and "SUCCEEDED 20 of 20" in printed, printed
    assert "STOPPED\nresume\n" in printed, printed
    # Every method of the client appears in an example.
    examples = "\n".join(blocks)
    methods = {m for m in dir(Client) if not m.startswith("_")}
    assert sorted(m for m in methods if f".{m}(" not in examples) == []


def test_the_served_document_and_the_client_agree(api: Caller) -> None:
    assert mismatches(api.get("/api/v1/openapi.json").json()) == []


def test_typed_results_problems_and_idempotency(api: Caller) -> None:
    make_report_task(api, duration="1s")
    make_task(api, "slow", pods=builders.pod_behaviour(duration="60s"))
    with Client(api.base, token=api.token, namespace=api.namespace) as client:
        run = client.run("nightly-report", params={"day": "d1"}, wait=True, wait_timeout=60)
        assert (run.status, run.is_successful, run.result, run.params) == (
            "SUCCEEDED",
            True,
            {"rows": 42},
            {"day": "d1"},
        )
        with pytest.raises(Invalid) as caught:
            client.run("nightly-report", params={"nope": 1})
        assert {e.location for e in caught.value.errors} == {"body.params.nope", "body.params.day"}
        with pytest.raises(NotFound):
            client.get_run("no-such-run")
        first = client.run("nightly-report", params={"day": "d2"}, idempotency_key="k-1")
        again = client.run("nightly-report", params={"day": "d2"}, idempotency_key="k-1")
        assert again.id == first.id and again.idempotent_replay and not first.idempotent_replay
        with pytest.raises(Invalid):  # the same key, another body
            client.run("nightly-report", params={"day": "d3"}, idempotency_key="k-1")
        slow = client.run("slow")
        assert client.wait_run(slow.id, wait_timeout=0.5).is_done is False, "returned as it is after the wait"
        assert client.cancel_run(slow.id).id == slow.id


def test_the_async_client_concurrently(api: Caller) -> None:
    make_report_task(api, duration="1s")

    async def main() -> list[str]:
        async with AsyncClient(api.base, token=api.token, namespace=api.namespace) as client:
            runs = await asyncio.gather(
                *(client.run("nightly-report", params={"day": f"d{i}"}, wait=True, wait_timeout=60) for i in range(5))
            )
            return [r.status for r in runs]

    assert asyncio.run(main()) == ["SUCCEEDED"] * 5


def test_a_rotated_token_is_read_again(cluster: Cluster, api: Caller, tmp_path: Path) -> None:
    make_report_task(api, duration="1s")
    other = service_account(cluster, api.namespace, "rotated", full_access())
    token_file = tmp_path / "token"
    token_file.write_text(api.token or "")
    with Client(api.base, token_file=token_file, namespace=api.namespace, token_reread_seconds=0.5) as client:
        assert (
            client.run("nightly-report", params={"day": "a"}).user_uid
            == f"system:serviceaccount:{api.namespace}:caller"
        )
        token_file.write_text(other)  # the kubelet rewrote it
        time.sleep(0.6)
        assert (
            client.run("nightly-report", params={"day": "b"}).user_uid
            == f"system:serviceaccount:{api.namespace}:rotated"
        )
    # A token the API refuses (401) is read again at once, long before its period.
    token_file.write_text("not-a-token")
    with Client(api.base, token_file=token_file, namespace=api.namespace, token_reread_seconds=3600) as client:
        with pytest.raises(Unauthorized):
            client.list_runs()
        token_file.write_text(api.token or "")
        assert client.list_runs().total >= 2


@pytest.fixture(scope="module")
def one_waiter(identities: dict[str, Path]) -> Iterator[ApiProcess]:
    """An API process that holds one waiting request in all: a second one gets 503 with Retry-After."""
    yield from api_server(identities["api"], OUTPUT / "logs", "api-one-waiter", "--max-waiters", "1")


def refused_503(proc: ApiProcess) -> float:
    metrics = requests.get(proc.url + "/metrics", timeout=10).text
    found = re.search(r'taskops_api_refused_total\{pool="waiters",status="503"\} ([0-9.]+)', metrics)
    return float(found.group(1)) if found else 0.0


def connect(proc: ApiProcess, api: Caller, retries: int = 5) -> Client:
    return Client(proc.url, token=api.token, namespace=api.namespace, retry=RetryPolicy(retries=retries))


def hold_the_waiter(client: Client) -> threading.Thread:
    """A run, and a thread waiting for it: the one waiter slot is taken until the run ends."""
    held = client.run("nightly-report", params={"day": f"held-{time.monotonic()}"})
    waiting = threading.Thread(target=client.wait_run, args=(held.id,), kwargs={"wait_timeout": 60})
    waiting.start()
    time.sleep(1.0)  # the holder's wait is in
    return waiting


def test_503_with_retry_after_is_retried_within_bounds(api: Caller, one_waiter: ApiProcess) -> None:
    make_report_task(api, duration="4s")
    with connect(one_waiter, api) as holder, connect(one_waiter, api) as client:
        waiting = hold_the_waiter(holder)
        before = refused_503(one_waiter)
        # The waiter pool is full: 503 busy, refused before anything was written, so even a trigger without an
        # Idempotency-Key is sent again; it gets in once the holder's run ended, and made exactly one run.
        started = time.monotonic()
        run = client.run("nightly-report", params={"day": "r"}, wait=True, wait_timeout=60)
        assert run.status == "SUCCEEDED" and time.monotonic() - started >= 2
        waiting.join()
        assert refused_503(one_waiter) > before, "no 503 was answered: nothing was retried"
        mine = [r for r in client.list_runs(task_name="nightly-report").items if r.params == {"day": "r"}]
        assert len(mine) == 1
    # Bounded: with no retries allowed, the 503 is raised as it came.
    with connect(one_waiter, api, retries=0) as holder, connect(one_waiter, api, retries=0) as client:
        waiting = hold_the_waiter(holder)
        with pytest.raises(ServiceUnavailable) as caught:
            client.wait_run(mine[0].id, wait_timeout=30)
        assert caught.value.problem.type == "https://taskops.dev/problems/busy"
        waiting.join()
