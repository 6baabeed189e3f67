"""The lean informers (operator/watches.py) driven with a fake API server and a fake clock.

Each event goes in through its informer, as a watch delivers it (the informer's transform, then the listener):
the store gets the object, and the keys it concerns are queued on the right queue, and no others.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from typing import Any, cast

from taskops.clients.informer import Key
from taskops.clients.kube import KubeClient
from taskops.clients.resources import CONFIGMAPS, JOBS, PODS, REVISIONS, RUNS, TASKS, Resource
from taskops.domain.resources import names
from taskops.operator.store import Store
from taskops.operator.watches import Watches
from taskops.operator.workqueue import WorkQueue
from tests import builders
from tests.builders import job, pod
from tests.unit.decisions import RUNNING
from tests.unit.fakes import FakeClock, FakeKube

NS = "ns"


class _Setup:
    """The Watches over a fake API server, with every queue and callback it feeds recorded."""

    def __init__(self) -> None:
        clock = FakeClock()
        self.kube = FakeKube(clock)
        self.store = Store()
        self.runs, self.statuses, self.fires, self.webhooks = (WorkQueue(clock) for _ in range(4))
        self.changed: list[Key] = []
        self.limits = 0
        self.own: set[str] = set()  # resourceVersions the Task controller wrote
        self.watches = Watches(
            cast(KubeClient, self.kube),
            self.store,
            self.runs,
            self.statuses,
            None,
            run_changed=self.changed.append,
            webhook_queue=self.webhooks,
            task_queue=self.fires,
            queue_changed=self._limits_changed,
            own_write=lambda key, rv: rv in self.own,
        )
        informers = self.watches.informers
        self.informer = {TASKS: informers[0], REVISIONS: informers[1], RUNS: informers[2]}
        self.informer.update({JOBS: informers[3], PODS: informers[4], CONFIGMAPS: informers[5]})

    def _limits_changed(self) -> None:
        self.limits += 1

    def deliver(self, res: Resource, obj: dict[str, Any], type_: str = "MODIFIED") -> None:
        """The watch event of `obj` (as the API server stored it)."""
        self.informer[res]._apply(type_, obj)

    async def create(self, res: Resource, body: dict[str, Any]) -> dict[str, Any]:
        created = await self.kube.create(res, NS, body)
        self.deliver(res, created, "ADDED")
        return created

    def drain(self) -> dict[str, list[Any]]:
        """What each queue holds (and empty them)."""
        held: dict[str, list[Any]] = {}
        for name, queue in (("runs", self.runs), ("statuses", self.statuses), ("fires", self.fires)):
            held[name] = []
            while len(queue):
                key = queue._take()
                held[name].append(key)
        held["webhooks"] = []
        while len(self.webhooks):
            held["webhooks"].append(self.webhooks._take())
        return held


def _scenario(fn: Callable[[], Coroutine[Any, Any, None]]) -> Callable[[], None]:
    @functools.wraps(fn)
    def test() -> None:
        asyncio.run(fn())

    return test


def _owned_by_run(run: dict[str, Any]) -> dict[str, Any]:
    meta = run["metadata"]
    return {
        "labels": {names.LABEL_RUN: meta["name"]},
        "ownerReferences": [builders.owner("Run", meta["name"], meta["uid"])],
    }


@_scenario
async def test_a_task_event_queues_its_fire_and_a_spec_change_its_going_runs_but_its_own_status_write_nothing() -> None:
    s = _Setup()
    task = await s.create(TASKS, builders.task("t"))
    await s.create(RUNS, builders.run("r", "t"))
    assert s.drain() == {"runs": [(NS, "r")], "statuses": [], "fires": [(NS, "t")], "webhooks": []}
    assert s.store.tasks.get((NS, "t")) is not None and s.limits == 1

    # The Task controller's own status write: nothing to fire, and neither the spec nor the limits changed.
    written = await s.kube.patch(TASKS, NS, "t", {"status": {"lastScheduleTime": "2026-01-01T00:00:00Z"}}, "status")
    s.own.add(written["metadata"]["resourceVersion"])
    s.deliver(TASKS, written)
    assert s.drain() == {"runs": [], "statuses": [], "fires": [], "webhooks": []} and s.limits == 1
    assert s.store.tasks.get((NS, "t")) == written

    # Someone else's status write: the fire worker looks, the Runs do not (same generation).
    other = await s.kube.patch(TASKS, NS, "t", {"status": {"message": "x"}}, "status")
    s.deliver(TASKS, other)
    assert s.drain() == {"runs": [], "statuses": [], "fires": [(NS, "t")], "webhooks": []} and s.limits == 1

    # A spec change: the fire worker, admission's limits and every Run still going.
    changed = await s.kube.patch(TASKS, NS, "t", {"spec": {"description": "new"}})
    s.deliver(TASKS, changed)
    assert changed["metadata"]["generation"] == task["metadata"]["generation"] + 1
    assert s.drain() == {"runs": [(NS, "r")], "statuses": [], "fires": [(NS, "t")], "webhooks": []}
    assert s.limits == 2


@_scenario
async def test_a_new_version_queues_the_tasks_runs_that_have_not_ended() -> None:
    s = _Setup()
    await s.create(TASKS, builders.task("t"))
    await s.create(RUNS, builders.run("waiting", "t"))
    await s.create(RUNS, builders.run("ended", "t", status={"phase": "SUCCEEDED"}))
    s.drain()
    created = await s.create(REVISIONS, builders.revision("t", 2, {"title": "t"}))
    assert s.drain()["runs"] == [(NS, "waiting")]
    assert isinstance(s.store.revisions.get((NS, created["metadata"]["name"]))["data"], bytes)  # type: ignore[index]


@_scenario
async def test_a_run_event_is_folded_into_admission_and_its_end_queues_its_task_status_and_webhook() -> None:
    s = _Setup()
    await s.create(RUNS, builders.run("r", "t", callbackUrl="https://example.test/hook"))
    assert s.changed == [(NS, "r")]
    assert s.drain() == {"runs": [(NS, "r")], "statuses": [], "fires": [], "webhooks": []}

    ended = await s.kube.patch(RUNS, NS, "r", {"status": {"phase": "SUCCEEDED"}}, "status")
    s.deliver(RUNS, ended)
    # Ended: no more reconciles; its Task may be over a history limit, its webhook is due.
    assert s.drain() == {"runs": [], "statuses": [(NS, "t")], "fires": [], "webhooks": [(NS, "r")]}
    assert s.changed == [(NS, "r"), (NS, "r")]

    s.deliver(RUNS, ended, "DELETED")
    assert s.store.runs.get((NS, "r")) is None and s.changed[-1] == (NS, "r")
    assert s.drain() == {"runs": [], "statuses": [], "fires": [], "webhooks": []}


@_scenario
async def test_a_runs_job_pod_and_configmaps_queue_the_run_and_a_tasks_input_chunk_is_kept_but_queues_nothing() -> None:
    s = _Setup()
    run = await s.create(RUNS, builders.run("r", "t"))
    s.drain()
    owned = _owned_by_run(run)
    await s.create(JOBS, builders.job("r-1", namespace=NS, metadata=owned))
    await s.create(PODS, builders.pod(name="r-1-abc", namespace=NS, metadata=owned))
    await s.create(CONFIGMAPS, builders.config_map("r-inputs", {"inputs": "[]"}, metadata=owned))
    assert s.drain()["runs"] == [(NS, "r")]
    assert s.store.jobs.get((NS, "r-1")) is not None and s.store.pods.get((NS, "r-1-abc")) is not None
    # The cache keeps a ConfigMap's keys, not its (possibly large) values.
    assert s.store.configmaps.get((NS, "r-inputs"))["data"] == {"inputs": ""}  # type: ignore[index]

    task_owned = {"ownerReferences": [builders.owner("Task", "t", "uid-t")], "labels": {names.LABEL_RUN: ""}}
    await s.create(CONFIGMAPS, builders.config_map("t-chunk", {"inputs": "[]"}, metadata=task_owned))
    await s.create(CONFIGMAPS, builders.config_map("stranger", metadata={"labels": {names.LABEL_RUN: "x"}}))
    assert s.drain()["runs"] == []
    assert s.store.configmaps.get((NS, "t-chunk")) is not None and s.store.configmaps.get((NS, "stranger")) is None


# Which Job and pod watch events queue their Run's reconcile.

KEY = ("ns", "r")
RUN_META = {"namespace": "ns", "uid": "run-uid", "resourceVersion": "5"}


def watches() -> tuple[Watches, Store, WorkQueue]:
    store, clock = Store(), FakeClock()
    queue = WorkQueue(clock, "run")
    w = Watches(FakeKube(clock), store, queue, WorkQueue(clock, "status"), None)  # type: ignore[arg-type]
    return w, store, queue


def owned(obj: dict[str, Any], rv: str) -> dict[str, Any]:
    obj["metadata"].setdefault("labels", {})[names.LABEL_RUN] = "r"
    obj["metadata"]["resourceVersion"] = rv
    return obj


def taken(queue: WorkQueue) -> list[object]:
    keys = []
    while (key := queue._take()) is not None:
        keys.append(key)
    return keys


def test_a_running_single_pod_run_wakes_on_its_jobs_start_and_end_and_on_nothing_between() -> None:
    w, store, queue = watches()
    store.runs.put(builders.run("r", "t", metadata=RUN_META, status=RUNNING))
    w.on_job("ADDED", owned(job(), "6"))
    assert taken(queue) == [KEY]
    w.on_pod("ADDED", owned(pod(None, phase="Pending"), "7"))
    w.on_job("MODIFIED", owned(job(status={"active": 1}), "8"))
    w.on_pod("MODIFIED", owned(pod(None), "9"))
    w.on_pod("MODIFIED", owned(pod(0), "10"))
    assert taken(queue) == []
    assert store.pods.get(("ns", "p")) is not None, "the store has every event all the same"
    w.on_job("MODIFIED", owned(job(condition="Complete"), "11"))
    assert taken(queue) == [KEY]
    w.on_pod("MODIFIED", owned(pod(0), "12"))  # past the Job's end: the pod's state decides how it ended
    assert taken(queue) == [KEY]


def test_a_pod_that_cannot_start_and_a_job_deleted_wake_the_run() -> None:
    w, store, queue = watches()
    store.runs.put(builders.run("r", "t", metadata=RUN_META, status=RUNNING))
    store.jobs.put(owned(job(), "6"))
    w.on_pod("MODIFIED", owned(pod(waiting="ErrImagePull"), "7"))
    assert taken(queue) == [KEY]
    w.on_job("DELETED", owned(job(), "8"))
    assert taken(queue) == [KEY]


def test_a_batch_run_wakes_on_every_event_and_an_ended_run_on_none() -> None:
    w, store, queue = watches()
    inputs = {"count": 2, "configMaps": ["r-inputs-0"]}
    store.runs.put(builders.run("r", "t", metadata=RUN_META, status=RUNNING, inputs=inputs))
    w.on_job("MODIFIED", owned(job(status={"active": 1}), "6"))
    assert taken(queue) == [KEY]
    ended = {**RUNNING, "phase": "SUCCEEDED", "endReason": "success"}
    store.runs.put(builders.run("r", "t", metadata={**RUN_META, "resourceVersion": "7"}, status=ended))
    w.on_job("MODIFIED", owned(job(condition="Complete"), "8"))
    w.on_pod("DELETED", owned(pod(0), "9"))
    assert taken(queue) == []


def test_events_of_a_run_not_cached_yet_wake_it() -> None:
    w, _, queue = watches()
    w.on_job("MODIFIED", owned(job(status={"active": 1}), "6"))
    assert taken(queue) == [KEY]


# Which Run and Task keys go to the front of their queues.


def _run(name: str, **status: Any) -> dict[str, Any]:
    run = builders.run(name, "t", metadata={"namespace": "ns", "resourceVersion": "1"})
    if status:
        run["status"] = status
    return run


def test_a_new_run_goes_before_the_events_of_runs_that_have_their_job() -> None:
    async def scenario() -> None:
        queue = WorkQueue()
        watches = Watches(cast(KubeClient, object()), Store(), queue, WorkQueue(), None)
        # Events of Runs that have their Job (their Job's and pod's, their status echoes) queued first...
        watches.on_run("MODIFIED", _run("running", phase="RUNNING", attempt=1, jobName="running-1"))
        watches.on_job(
            "ADDED", builders.job("other-1", metadata={"namespace": "ns", "labels": {names.LABEL_RUN: "other"}})
        )
        # ...a Run made ahead of its fire (nothing to do before its fire creates its Job)...
        ahead = _run("ahead")
        ahead["metadata"]["annotations"] = {names.ANNOTATION_AHEAD: "1"}
        watches.on_run("ADDED", ahead)
        # ...then a Run created at its fire (or by a user): its first reconcile creates its Job, so it goes first.
        watches.on_run("ADDED", _run("new"))
        order = [await queue.get() for _ in range(4)]
        assert order == [("ns", "new"), ("ns", "running"), ("ns", "other"), ("ns", "ahead")]

    asyncio.run(scenario())


def test_a_new_or_changed_task_goes_before_other_task_work_and_its_status_echo_does_not() -> None:
    async def scenario() -> None:
        fires = WorkQueue()
        watches = Watches(cast(KubeClient, object()), Store(), WorkQueue(), WorkQueue(), None, task_queue=fires)
        old = builders.task("old", metadata={"namespace": "ns", "resourceVersion": "1", "generation": 1})
        watches.on_task("ADDED", old)
        assert await fires.get() == ("ns", "old")
        fires.done(("ns", "old"))
        fires.add(("ns", "busy"))  # other Task work (a Run made ahead, 30 s before its fire)
        # A status write of "old" (same generation): ordinary work, after "busy".
        watches.on_task("MODIFIED", {**old, "metadata": {**old["metadata"], "resourceVersion": "2"}})
        # A new Task: its first pass (its version, its first fire) goes first.
        new = builders.task("new", metadata={"namespace": "ns", "resourceVersion": "3", "generation": 1})
        watches.on_task("ADDED", new)
        assert [await fires.get() for _ in range(3)] == [("ns", "new"), ("ns", "busy"), ("ns", "old")]

    asyncio.run(scenario())
