"""Which Job and pod watch events queue their Run's reconcile (operator/watches.py)."""

from __future__ import annotations

from typing import Any

from taskops.domain.resources import names
from taskops.operator.store import Store
from taskops.operator.watches import Watches
from taskops.operator.workqueue import WorkQueue
from tests import builders
from tests.builders import job, pod
from tests.unit.decisions import RUNNING
from tests.unit.fakes import FakeClock, FakeKube

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
