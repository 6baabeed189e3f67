"""The Run reconciler (operator/reconciler.py) in its worker shell, with a fake clock and a fake API server.

What the controller does with its decisions, seen from the API server: how many writes, which objects, what
status, and how failures are retried. The decisions themselves are tested in test_reconcile.py.
"""

from __future__ import annotations

import asyncio
from typing import cast

from taskops.clients import errors
from taskops.clients.kube import KubeClient
from taskops.clients.resources import JOBS, RUNS, TASKS
from taskops.operator.reconciler import Reconciler
from taskops.operator.store import Store
from taskops.operator.task_controller import TaskController
from taskops.operator.workqueue import Gate, WorkQueue
from tests import builders
from tests.unit.fakes import FakeClock, FakeKube

KEY = ("ns", "r1")


async def _setup() -> tuple[Reconciler, FakeKube, FakeClock, Store, Gate]:
    """A Task (versioned by its controller, as in the cluster) and a new Run of it, cached."""
    clock = FakeClock()
    kube = FakeKube(clock)
    store = Store()
    task = builders.task("t")
    task["metadata"]["namespace"] = "ns"
    store.tasks.put(await kube.create(TASKS, "ns", task))
    tasks = TaskController(store, cast(KubeClient, kube), clock)
    await tasks.reconcile(("ns", "t"))  # writes the Task's version 1
    clock.advance(3)
    run = builders.run(KEY[1], "t")
    run["metadata"]["namespace"] = "ns"
    store.runs.put(await kube.create(RUNS, "ns", run))
    reconciler = Reconciler(store, cast(KubeClient, kube), WorkQueue(clock), clock, yield_to=tasks.firing)
    return reconciler, kube, clock, store, tasks.firing


async def _process(reconciler: Reconciler) -> None:
    reconciler.queue.add(KEY)
    key = await reconciler.queue.get()
    await reconciler.controller.process(key)  # type: ignore[arg-type]


def test_a_new_run_starts_one_job_at_the_injected_time_and_a_second_sync_writes_nothing() -> None:
    async def scenario() -> None:
        reconciler, kube, clock, store, _ = await _setup()
        assert await reconciler.sync(KEY) is None
        (job,) = kube.of(JOBS, "ns")
        status = kube.of(RUNS)[0]["status"]
        assert (status["phase"], status["jobName"], status["attempt"]) == ("RUNNING", job["metadata"]["name"], 1)
        assert status["startTime"] == clock().strftime("%Y-%m-%dT%H:%M:%SZ") == "2026-01-01T00:00:03Z"
        assert kube.reasons() == ["Started"]
        assert store.runs.get(KEY) == kube.of(RUNS)[0]
        writes = len(kube.calls)
        store.jobs.put(job)
        assert await reconciler.sync(KEY) is None
        assert len(kube.calls) == writes and len(kube.of(JOBS)) == 1

    asyncio.run(scenario())


def test_a_job_the_api_server_refuses_ends_the_run_start_failed() -> None:
    async def scenario() -> None:
        reconciler, kube, _, _, _ = await _setup()
        invalid = errors.ApiError(422, {"reason": "Invalid", "message": "spec.template: Invalid value"})
        kube.fail_next("create", invalid)
        # The refusal is observed by this sync and decided by the next, which it asks for at once.
        assert await reconciler.sync(KEY) == 0
        await reconciler.sync(KEY)
        status = kube.of(RUNS)[0]["status"]
        assert (status["phase"], status["endReason"]) == ("FAILED", "start_failed")
        assert "Invalid value" in status["message"]
        assert kube.of(JOBS) == [] and "StartFailed" in kube.reasons()

    asyncio.run(scenario())


def test_a_transient_failure_is_retried_with_the_shell_backoff_then_starts_the_job() -> None:
    async def scenario() -> None:
        reconciler, kube, clock, _, _ = await _setup()
        kube.fail_next("create", errors.ApiError(503, {"reason": "ServiceUnavailable", "message": "etcd"}))
        await _process(reconciler)
        assert kube.of(JOBS) == [] and reconciler.controller.failures(KEY) == 1
        (delay,) = clock.timers()
        assert delay == reconciler.controller.backoff.delay(1)
        clock.advance(delay)
        key = await reconciler.queue.get()
        await reconciler.controller.process(key)  # type: ignore[arg-type]
        assert len(kube.of(JOBS)) == 1 and reconciler.controller.failures(KEY) == 0

    asyncio.run(scenario())


def test_runs_wait_while_schedules_fire() -> None:
    async def scenario() -> None:
        reconciler, kube, _, _, firing = await _setup()
        with firing:
            syncing = asyncio.create_task(reconciler.sync(KEY))
            for _ in range(10):
                await asyncio.sleep(0)
            assert not syncing.done() and kube.of(JOBS) == []
        await asyncio.wait_for(syncing, 5)
        assert len(kube.of(JOBS)) == 1

    asyncio.run(scenario())
