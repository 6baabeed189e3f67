"""GET /api/v1/runs/{id}/logs (api/log_routes.py): every attempt's pods in one stream, followed until the run ends."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from taskops.api import log_routes
from taskops.api.context import SERVICES, Services
from taskops.api.limits import HOLDS, LIMITS, USER_KEY, Holds, Limits, release_middleware
from taskops.api.problems import problem_middleware
from taskops.clients.resources import CONFIGMAPS, PODS
from taskops.clients.reviews import User
from taskops.domain.execution import batch
from tests import builders
from tests.unit.fakes import FakeKube

NS = "ns"


class Logs(FakeKube):
    """Each pod logs two lines naming itself; `hold` keeps a pod's log open until released (a running container)."""

    def __init__(self) -> None:
        super().__init__()
        self.hold: dict[str, asyncio.Event] = {}
        self.endless: set[str] = set()

    async def pod_logs(self, namespace: str, pod: str, follow: bool, container: str | None = None) -> Any:
        yield f"{pod}: one\n".encode()
        if follow and pod in self.endless:  # kwok never ends a followed log, even of a pod that ended
            await asyncio.Event().wait()
        if follow and pod in self.hold:
            await self.hold[pod].wait()
        yield f"{pod}: two\n".encode()


class Runs:
    """The API's cache of one Run, which a test changes as the operator would."""

    def __init__(self, run: dict[str, Any]) -> None:
        self.obj = run

    def run(self, namespace: str, ident: str) -> dict[str, Any] | None:
        return self.obj if ident == self.obj["metadata"]["name"] else None

    def update(self, **status: Any) -> None:
        version = int(self.obj["metadata"].get("resourceVersion") or 1) + 1
        self.obj = {
            **self.obj,
            "metadata": {**self.obj["metadata"], "resourceVersion": str(version)},
            "status": {**(self.obj.get("status") or {}), **status},
        }


class Everyone:
    async def authenticate(self, request: web.Request) -> User:
        request[USER_KEY] = "alice"
        return User("alice")

    async def authorize(self, user: User, access: Any) -> None:
        return None


def pod(name: str, attempt: int, index: int | None = None, exit_code: int | None = None) -> dict[str, Any]:
    labels = {"taskops.dev/run": "r", "taskops.dev/attempt": str(attempt)}
    if index is not None:
        labels["batch.kubernetes.io/job-completion-index"] = str(index)
    return builders.pod(name=name, namespace=NS, exit_code=exit_code, metadata={"labels": labels})


def serve(kube: Logs, runs: Runs) -> web.Application:
    limits = Limits(max_stream_seconds=10.0)
    app = web.Application(middlewares=[problem_middleware, release_middleware])
    app[SERVICES] = Services(client=kube, cache=runs, auth=Everyone(), default_namespace=NS)  # type: ignore[arg-type]
    app[LIMITS] = limits
    app[HOLDS] = Holds.of(limits)
    app.router.add_routes(log_routes.routes)
    return app


def scenario(app: web.Application, body: Any) -> None:
    async def run() -> None:
        async with TestClient(TestServer(app)) as client:
            await body(client)

    asyncio.run(run())


def test_a_runs_log_is_every_attempts_pod_in_order_with_a_marker_between() -> None:
    kube = Logs()
    kube.put(PODS, pod("r-2-x", 2))
    kube.put(PODS, pod("r-1-x", 1))
    runs = Runs(builders.run("r", metadata={"namespace": NS}, status={"phase": "FAILED", "attempt": 2}))

    async def body(client: Any) -> None:
        resp = await client.get("/api/v1/runs/r/logs")
        assert resp.status == 200
        assert await resp.text() == (
            "r-1-x: one\nr-1-x: two\n--- taskops: attempt 2, pod r-2-x ---\nr-2-x: one\nr-2-x: two\n"
        )
        none = await client.get("/api/v1/runs/nope/logs")
        assert none.status == 404

    scenario(serve(kube, runs), body)


def test_a_followed_log_goes_on_with_the_retrys_pod_and_ends_when_the_run_ends(monkeypatch: Any) -> None:
    monkeypatch.setattr(log_routes, "POLL_SECONDS", 0.01)
    kube = Logs()
    kube.put(PODS, pod("r-1-x", 1))
    kube.hold["r-1-x"] = asyncio.Event()
    kube.hold["r-2-x"] = asyncio.Event()
    runs = Runs(builders.run("r", metadata={"namespace": NS, "resourceVersion": "1"}, status={"phase": "RUNNING"}))

    async def body(client: Any) -> None:
        resp = await client.get("/api/v1/runs/r/logs", params={"follow": "true"})
        assert resp.status == 200
        assert await resp.content.readline() == b"r-1-x: one\n"
        kube.hold["r-1-x"].set()  # attempt 1's container ends; the run waits for its retry
        assert await resp.content.readline() == b"r-1-x: two\n"
        kube.put(PODS, pod("r-2-x", 2))
        runs.update(phase="RUNNING", attempt=2)
        assert await resp.content.readline() == b"--- taskops: attempt 2, pod r-2-x ---\n"
        assert await resp.content.readline() == b"r-2-x: one\n"
        runs.update(phase="SUCCEEDED")
        kube.hold["r-2-x"].set()
        assert await resp.content.read() == b"r-2-x: two\n"  # and the stream ended with the run

    scenario(serve(kube, runs), body)


def test_a_followed_log_of_a_run_not_started_yet_waits_for_its_first_pod(monkeypatch: Any) -> None:
    monkeypatch.setattr(log_routes, "POLL_SECONDS", 0.01)
    kube = Logs()
    runs = Runs(builders.run("r", metadata={"namespace": NS, "resourceVersion": "1"}, status={"phase": "QUEUED"}))

    async def body(client: Any) -> None:
        assert (await client.get("/api/v1/runs/r/logs")).status == 409  # nothing to read now
        resp = await client.get("/api/v1/runs/r/logs", params={"follow": "true"})
        assert resp.status == 200
        kube.put(PODS, pod("r-1-x", 1))
        runs.update(phase="SUCCEEDED", attempt=1)
        assert await resp.text() == "r-1-x: one\nr-1-x: two\n"

    scenario(serve(kube, runs), body)


def test_a_batch_runs_log_is_one_inputs_across_a_resume() -> None:
    kube = Logs()
    inputs = {"count": 10, "chunkSize": 10, "configMaps": ["r-inputs-0"]}
    # Attempt 1 ran input 7 as completion index 7; the resume (attempt 2) runs inputs 3 and 7 as indexes 0 and 1.
    kube.put(PODS, pod("r-1-7", 1, 7))
    kube.put(PODS, pod("r-1-3", 1, 3))
    kube.put(PODS, pod("r-2-1", 2, 1))
    kube.put(PODS, pod("r-2-0", 2, 0))
    index_map = {batch.INDEX_MAP_KEY: batch.index_map_text([3, 7])}
    kube.put(CONFIGMAPS, batch.config_map(batch.index_map_name("r", 2), NS, "r", "uid", index_map))
    status = {"phase": "FAILED", "attempt": 2, "attempts": [{"number": 1}, {"number": 2}]}
    runs = Runs(builders.run("r", metadata={"namespace": NS}, status=status, inputs=inputs))

    async def body(client: Any) -> None:
        resp = await client.get("/api/v1/runs/r/logs", params={"index": "7"})
        assert await resp.text() == (
            "r-1-7: one\nr-1-7: two\n--- taskops: attempt 2 (input 7), pod r-2-1 ---\nr-2-1: one\nr-2-1: two\n"
        )
        missing = await client.get("/api/v1/runs/r/logs")
        assert missing.status == 422 and (await missing.json())["errors"][0]["location"] == "query.index"
        beyond = await client.get("/api/v1/runs/r/logs", params={"index": "10"})
        assert beyond.status == 422

    scenario(serve(kube, runs), body)


def test_a_followed_log_the_kubelet_never_ends_is_left_once_its_pod_ended(monkeypatch: Any) -> None:
    monkeypatch.setattr(log_routes, "POLL_SECONDS", 0.01)
    monkeypatch.setattr(log_routes, "IDLE_SECONDS", 0.05)
    kube = Logs()
    kube.put(PODS, pod("r-1-x", 1))
    kube.endless = {"r-1-x", "r-2-x"}
    runs = Runs(builders.run("r", metadata={"namespace": NS, "resourceVersion": "1"}, status={"phase": "RUNNING"}))

    async def body(client: Any) -> None:
        resp = await client.get("/api/v1/runs/r/logs", params={"follow": "true"})
        assert await resp.content.readline() == b"r-1-x: one\n"
        await asyncio.sleep(0.2)  # still running: still followed
        kube.put(PODS, pod("r-1-x", 1, exit_code=1))
        kube.put(PODS, pod("r-2-x", 2, exit_code=0))
        runs.update(phase="SUCCEEDED", attempt=2)
        assert await resp.text() == "--- taskops: attempt 2, pod r-2-x ---\nr-2-x: one\n"

    scenario(serve(kube, runs), body)
