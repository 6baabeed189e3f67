"""The Run reconciler (operator/reconciler.py) driven against an in-memory API server and a fake clock: what it
writes, in what order, and how it comes back from a refused Job, a crash between two writes, and a failed attempt;
then in its worker shell: how failures are retried and how it yields to the Task controller's firing.

The decisions themselves are tested in tests/unit/domain/execution/test_decide.py."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

import pytest

from taskops.clients import errors
from taskops.clients.kube import KubeClient
from taskops.clients.resources import JOBS, PODS, REVISIONS, RUNS, TASKS, Resource
from taskops.domain.execution import batch
from taskops.domain.execution.jobs import BatchPods
from taskops.domain.execution.versions import next_revision
from taskops.domain.queueing.admission import ADMITTED
from taskops.domain.resources import names
from taskops.domain.resources.task import Task
from taskops.operator.admission import AdmissionController
from taskops.operator.reconciler import Reconciler
from taskops.operator.store import Kind, Store
from taskops.operator.task_controller import FIRES_FIRST, TaskController
from taskops.operator.workqueue import Gate, WorkQueue
from tests import builders
from tests.builders import T0
from tests.unit.fakes import Crash, FakeClock, FakeKube

KEY = ("ns", "r")
STATUS = ("patch", "runs/status", "r")
T = TypeVar("T")


def run_sync(coro: Callable[[], Awaitable[T]]) -> T:
    async def main() -> T:
        return await coro()

    return asyncio.run(main())


def cluster(owned: bool = True, **task_spec: Any) -> tuple[FakeKube, FakeClock]:
    """A namespace with Task "t" (its version 1 recorded) and a new Run "r" of it, at T0 on a fake clock."""
    task_spec.setdefault("maxRetries", 0)
    clock = FakeClock(T0)
    fake = FakeKube(clock)
    task = fake.put(TASKS, builders.task("t", metadata={"namespace": "ns"}, **task_spec))
    revision = next_revision(Task.model_validate(task), [])
    assert revision is not None
    fake.put(REVISIONS, {**revision, "revision": 1})
    owners = [builders.owner("Task", "t", task["metadata"]["uid"])] if owned else []
    fake.put(RUNS, builders.run("r", "t", metadata={"namespace": "ns", "ownerReferences": owners}))
    return fake, clock


def operator(fake: FakeKube, clock: FakeClock) -> Reconciler:
    """A Reconciler as a (re)started operator has it: caches filled from what the API server holds."""
    store = Store()
    kinds: list[tuple[Resource, Kind]] = [
        (TASKS, store.tasks),
        (RUNS, store.runs),
        (REVISIONS, store.revisions),
        (JOBS, store.jobs),
        (PODS, store.pods),
    ]
    for res, kind in kinds:
        for obj in fake.of(res):
            kind.put(obj)
    return Reconciler(store, fake, WorkQueue(), clock=clock, batch_pods=BatchPods("taskops:test"))


def sync(reconciler: Reconciler, fake: FakeKube) -> tuple[float | None, list[tuple[str, str, str]]]:
    """One reconcile of the Run: its requeue delay and the writes it made."""
    before = len(fake.writes)
    requeue = run_sync(lambda: reconciler.reconcile(KEY))
    return requeue, fake.writes[before:]


def status(fake: FakeKube) -> dict[str, Any]:
    run = fake.stored(RUNS, "ns", "r")
    assert run is not None
    return dict(run.get("status") or {})


def test_first_sync_writes_owner_then_status_then_job_then_events() -> None:
    fake, clock = cluster(owned=False)
    requeue, writes = sync(operator(fake, clock), fake)
    # No Event: the first attempt's start is told by the one that ends the Run.
    assert writes == [("patch", "runs", "r"), STATUS, ("create", "jobs", "r-1")]
    assert requeue is None
    assert (status(fake)["phase"], status(fake)["jobName"]) == ("RUNNING", "r-1")
    assert [j["metadata"]["name"] for j in fake.of(JOBS)] == ["r-1"]


def test_a_keyed_run_is_handed_to_admission_without_a_write_then_starts_with_one_status_write() -> None:
    fake, clock = cluster(concurrencyKey="db", concurrencyLimit=1)
    reconciler = operator(fake, clock)
    admission = AdmissionController(reconciler.store, reconciler.queue, clock)
    reconciler.admission = admission
    admission.ready = True
    requeue, writes = sync(reconciler, fake)
    assert (requeue, writes) == (None, []), "no status that would only say 'waiting for admission'"
    admission.decide()
    assert admission.verdict_for(KEY) is ADMITTED
    _, writes = sync(reconciler, fake)
    assert writes == [STATUS, ("create", "jobs", "r-1")]
    steps = [s["step"] for s in status(fake)["history"]]
    assert steps == ["validated", "admitted", "job_created"]


def test_a_refused_job_ends_the_run_start_failed_on_the_next_sync_with_one_status_write_each() -> None:
    fake, clock = cluster()
    quota = 'jobs "r-1" is forbidden: exceeded quota: jobs, requested: count/jobs.batch=1, limited: count/jobs.batch=0'
    fake.refuse[("create", "jobs")] = errors.ApiError(403, {"reason": "Forbidden", "message": quota})
    reconciler = operator(fake, clock)

    requeue, writes = sync(reconciler, fake)
    # The attempt is recorded, the Job refused: no "Started" Event for a Job that does not exist.
    assert writes == [STATUS]
    assert fake.refused == [("create", "jobs", "r-1")]
    assert requeue == 0.0, "the next sync must decide at once"
    assert status(fake)["phase"] == "RUNNING"

    requeue, writes = sync(reconciler, fake)
    assert writes == [STATUS, ("event", "StartFailed", "r")]
    assert requeue is None
    ended = status(fake)
    assert (ended["phase"], ended["endReason"]) == ("FAILED", "start_failed")
    assert ended["message"] == f"Job r-1 could not be created: {quota}"
    assert fake.of(JOBS) == []

    assert sync(reconciler, fake) == (None, []), "an ended Run is left alone"


def test_a_transient_error_on_the_job_create_is_retried_not_decided() -> None:
    fake, clock = cluster()
    fake.refuse[("create", "jobs")] = errors.ApiError(503, {"reason": "ServiceUnavailable", "message": "etcd"})
    reconciler = operator(fake, clock)
    with pytest.raises(errors.ApiError):
        sync(reconciler, fake)
    del fake.refuse[("create", "jobs")]
    _, writes = sync(reconciler, fake)
    assert writes == [("create", "jobs", "r-1")]
    assert status(fake)["phase"] == "RUNNING"


@pytest.mark.parametrize(
    "crash_before",
    [STATUS[:2], ("create", "jobs")],
    ids=["before-status", "between-status-and-job"],
)
def test_a_crash_between_two_writes_never_loses_or_doubles_the_job(crash_before: tuple[str, str]) -> None:
    fake, clock = cluster()
    fake.crash_before = crash_before
    with pytest.raises(Crash):
        sync(operator(fake, clock), fake)
    restarted = operator(fake, clock)
    sync(restarted, fake)
    assert sync(restarted, fake) == (None, [])
    assert [j["metadata"]["name"] for j in fake.of(JOBS)] == ["r-1"]
    assert [w for w in fake.writes if w[1] == "jobs"] == [("create", "jobs", "r-1")]
    assert [w for w in fake.writes if w == STATUS] == [STATUS]
    assert (status(fake)["phase"], status(fake)["attempt"]) == ("RUNNING", 1)


def fail_attempt(fake: FakeKube, reconciler: Reconciler, job_name: str, at: dt.datetime) -> None:
    """The attempt's pod exited 1 and its Job is Failed, as the watches would bring them to the caches."""
    job = fake.stored(JOBS, "ns", job_name)
    assert job is not None
    job["status"] = builders.job(job_name, "Failed", "BackoffLimitExceeded", at)["status"]
    pod = builders.pod(1, created=at, name=f"{job_name}-pod", job_name=job_name)
    pod["metadata"]["labels"][names.LABEL_RUN] = "r"
    reconciler.store.jobs.put(fake.put(JOBS, job))
    reconciler.store.pods.put(fake.put(PODS, pod))


def test_a_failed_attempt_is_retried_after_its_backoff_which_the_sync_returns_as_its_requeue_delay() -> None:
    fake, clock = cluster(maxRetries=1, backoffStrategy="fixed", backoffSeconds=30)
    reconciler = operator(fake, clock)
    sync(reconciler, fake)
    clock.advance(5)
    fail_attempt(fake, reconciler, "r-1", clock())

    requeue, writes = sync(reconciler, fake)
    assert requeue == 30.0
    assert writes == [STATUS, ("event", "RetryScheduled", "r")]
    assert status(fake)["phase"] == "SCHEDULED"

    clock.advance(20)
    assert sync(reconciler, fake) == (10.0, []), "still waiting: the rest of the backoff, no write"

    clock.advance(10)
    requeue, writes = sync(reconciler, fake)
    assert writes == [STATUS, ("create", "jobs", "r-2"), ("event", "Started", "r")]
    assert (status(fake)["phase"], status(fake)["attempt"], status(fake)["retryOf"]) == ("RUNNING", 2, "r-1")


def test_a_stop_deletes_the_job_before_the_status_that_ends_the_run() -> None:
    fake, clock = cluster()
    reconciler = operator(fake, clock)
    sync(reconciler, fake)
    run = fake.stored(RUNS, "ns", "r")
    assert run is not None
    run["spec"]["stop"] = True
    reconciler.store.runs.put(fake.put(RUNS, run))

    _, writes = sync(reconciler, fake)
    assert writes == [("delete", "jobs", "r-1"), STATUS, ("event", "Stopped", "r")]
    assert (status(fake)["phase"], status(fake)["endReason"]) == ("STOPPED", "stopped")


def test_a_resume_writes_status_then_its_index_map_then_its_job() -> None:
    fake, clock = cluster()
    run = fake.stored(RUNS, "ns", "r")
    assert run is not None
    run["spec"].update(inputs={"count": 3, "chunkSize": 3, "configMaps": ["r-in"]}, resume=1)
    run["status"] = {
        "phase": "FAILED",
        "endReason": "failed",
        "attempt": 1,
        "jobName": "r-1",
        "version": {"number": 1, "id": "t-v1"},
        "batch": {"total": 3, "succeeded": 1, "failed": 2, "completedIndexes": "1", "failedIndexes": "0,2"},
    }
    fake.put(RUNS, run)

    _, writes = sync(operator(fake, clock), fake)
    assert writes == [
        STATUS,
        ("create", "configmaps", batch.index_map_name("r", 2)),
        ("create", "jobs", "r-2"),
        ("event", "Started", "r"),
    ]
    assert status(fake)["batch"]["attemptIndexes"] == "0,2"


# -- in the worker shell ---------------------------------------------------------------------------------------


async def in_shell() -> tuple[Reconciler, FakeKube, FakeClock, Store, Gate]:
    """A Task (versioned by its controller, as in the cluster) and a new Run of it, cached, and a Reconciler in its
    worker shell (its queue on the fake clock) that yields to the Task controller's firing."""
    clock = FakeClock()
    kube = FakeKube(clock)
    store = Store()
    task = builders.task("t", metadata={"namespace": "ns"})
    store.tasks.put(await kube.create(TASKS, "ns", task))
    tasks = TaskController(store, cast(KubeClient, kube), clock)
    await tasks.reconcile(("ns", "t"))  # writes the Task's version 1
    clock.advance(3)
    run = builders.run(KEY[1], "t", metadata={"namespace": "ns"})
    store.runs.put(await kube.create(RUNS, "ns", run))
    reconciler = Reconciler(store, cast(KubeClient, kube), WorkQueue(clock), clock, yield_to=tasks.firing)
    return reconciler, kube, clock, store, tasks.firing


async def process(reconciler: Reconciler) -> None:
    reconciler.queue.add(KEY)
    key = await reconciler.queue.get()
    await reconciler.controller.process(key)  # type: ignore[arg-type]


def test_a_new_run_starts_one_job_at_the_injected_time_and_a_second_sync_writes_nothing() -> None:
    async def scenario() -> None:
        reconciler, kube, clock, store, _ = await in_shell()
        assert await reconciler.sync(KEY) is None
        (job,) = kube.of(JOBS, "ns")
        status = kube.of(RUNS)[0]["status"]
        assert (status["phase"], status["jobName"], status["attempt"]) == ("RUNNING", job["metadata"]["name"], 1)
        assert status["startTime"] == clock().strftime("%Y-%m-%dT%H:%M:%SZ") == "2026-01-01T00:00:03Z"
        assert kube.reasons() == []
        assert store.runs.get(KEY) == kube.of(RUNS)[0]
        writes = len(kube.calls)
        store.jobs.put(job)
        assert await reconciler.sync(KEY) is None
        assert len(kube.calls) == writes and len(kube.of(JOBS)) == 1

    asyncio.run(scenario())


def test_a_job_the_api_server_refuses_ends_the_run_start_failed() -> None:
    async def scenario() -> None:
        reconciler, kube, _, _, _ = await in_shell()
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
        reconciler, kube, clock, _, _ = await in_shell()
        kube.fail_next("create", errors.ApiError(503, {"reason": "ServiceUnavailable", "message": "etcd"}))
        await process(reconciler)
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
        reconciler, kube, _, _, firing = await in_shell()
        with firing:
            syncing = asyncio.create_task(reconciler.sync(KEY))
            for _ in range(10):
                await asyncio.sleep(0)
            assert not syncing.done() and kube.of(JOBS) == []
        await asyncio.wait_for(syncing, 5)
        assert len(kube.of(JOBS)) == 1

    asyncio.run(scenario())


def test_fires_every_second_of_the_minute_do_not_starve_the_run_reconciler() -> None:
    """The spread schedule (5,000 Tasks, Task i at second i mod 60): the fire workers hold the gate 0.9 s of every
    second. Once the burst's first FIRES_FIRST seconds are over, every queued Run is reconciled (its Job created)
    while fires go on, the clock not moving; before, each reconcile waited FIRES_FIRST seconds for the gate."""

    async def scenario() -> None:
        reconciler, kube, clock, store, firing = await in_shell()
        for i in range(40):
            store.runs.put(await kube.create(RUNS, "ns", builders.run(f"r{i}", "t", metadata={"namespace": "ns"})))
            reconciler.queue.add(("ns", f"r{i}"))
        workers = asyncio.create_task(reconciler.run_workers())

        async def spin() -> None:
            for _ in range(50):
                await asyncio.sleep(0)

        held = int(FIRES_FIRST)  # whole seconds of the burst that go first
        jobs_by_second = []
        for _ in range(held + 2):  # fires at seconds 0, 1, 2, ...: the gate free only 0.1 s of each
            with firing:
                await spin()
                jobs_by_second.append(len(kube.of(JOBS, "ns")))
                clock.advance(0.9)
                await spin()
            clock.advance(0.1)
        workers.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await workers
        # The burst's first FIRES_FIRST seconds go first (but for the few workers a pause let through); from then
        # on, the pauses being shorter than FIRES_FIRST, the gate holds no one back: all 40 Runs have their Job
        # while fires are still going.
        assert jobs_by_second[0] == 0 and jobs_by_second[1] < 40
        assert jobs_by_second[held:] == [40, 40]
        assert len(reconciler.queue) == 0

    asyncio.run(scenario())


def made_ahead(fake: FakeKube) -> str:
    """Make Run "r" one the Task controller created ahead of its fire at T0; → its uid."""
    run = fake.stored(RUNS, "ns", "r")
    assert run is not None
    run["metadata"]["annotations"] = {names.ANNOTATION_AHEAD: "1"}
    run["spec"]["scheduledAt"] = run["spec"]["scheduledTime"] = "2026-03-01T12:00:00Z"
    return str(fake.put(RUNS, run)["metadata"]["uid"])


def released(fake: FakeKube, uid: str) -> None:
    """Its fire: the Task controller created the Job of attempt 1."""
    fake.put(JOBS, builders.job("r-1", metadata={"ownerReferences": [builders.owner("Run", "r", uid)]}))


def test_a_run_made_ahead_waits_without_a_write_past_its_time_until_its_fire_creates_the_job() -> None:
    fake, clock = cluster()
    uid = made_ahead(fake)
    clock.advance(5)  # past its scheduledAt: still only its fire starts it
    requeue, writes = sync(operator(fake, clock), fake)
    # Valid: no status until its fire (no SCHEDULED write), no requeue (the Job's watch event brings it back).
    assert writes == [] and requeue is None
    assert status(fake) == {} and fake.of(JOBS) == []
    released(fake, uid)
    requeue, writes = sync(operator(fake, clock), fake)
    # The Job is adopted, not created a second time: one status write records it and the validation (a first
    # attempt posts no Started Event; the Event that ends the Run names its Job).
    assert writes == [STATUS]
    assert (status(fake)["phase"], status(fake)["jobName"], status(fake)["attempt"]) == ("RUNNING", "r-1", 1)
    assert [step["step"] for step in status(fake)["history"]][:2] == ["validated", "job_created"]


def test_a_run_made_ahead_records_the_version_it_was_made_for_when_the_task_changes_after_its_fire() -> None:
    fake, clock = cluster()
    uid = made_ahead(fake)
    run = fake.stored(RUNS, "ns", "r")
    assert run is not None
    run["spec"]["version"] = "t-v1"  # pinned when it was made (its Job was built for it)
    fake.put(RUNS, run)
    released(fake, uid)
    # The Task changes between the fire's Job create and this reconcile: version 2 is current now.
    task = fake.stored(TASKS, "ns", "t")
    assert task is not None
    task["spec"]["description"] = "changed"
    changed = fake.put(TASKS, task)
    revision = next_revision(Task.model_validate(changed), [])
    assert revision is not None
    fake.put(REVISIONS, {**revision, "metadata": {**revision["metadata"], "name": "t-v2"}, "revision": 2})
    sync(operator(fake, clock), fake)
    assert (status(fake)["phase"], status(fake)["version"]["number"]) == ("RUNNING", 1)


def test_a_run_made_ahead_with_invalid_params_ends_at_once_without_waiting_for_its_fire() -> None:
    fake, clock = cluster()
    made_ahead(fake)
    run = fake.stored(RUNS, "ns", "r")
    assert run is not None
    run["spec"]["params"] = {"nope": 1}
    fake.put(RUNS, run)
    _, writes = sync(operator(fake, clock), fake)
    assert writes[0] == STATUS
    assert status(fake)["phase"] == "INVALID" and fake.of(JOBS) == []


def test_a_stop_of_a_run_made_ahead_after_its_fire_deletes_the_job_its_status_does_not_name_yet() -> None:
    fake, clock = cluster()
    released(fake, made_ahead(fake))
    run = fake.stored(RUNS, "ns", "r")
    assert run is not None
    run["spec"]["stop"] = True
    fake.put(RUNS, run)
    _, writes = sync(operator(fake, clock), fake)
    assert writes[:2] == [("delete", "jobs", "r-1"), STATUS]
    assert status(fake)["endReason"] == "stopped"
