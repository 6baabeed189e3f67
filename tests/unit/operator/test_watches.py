"""The watches' routing of Run events (operator/watches.py): which Run keys go to the front of the Run queue."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from taskops.clients.kube import KubeClient
from taskops.domain.resources import names
from taskops.operator.store import Store
from taskops.operator.watches import Watches
from taskops.operator.workqueue import WorkQueue
from tests import builders


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
