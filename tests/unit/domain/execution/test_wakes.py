"""Which watch events of a single-pod Run's Job and pod wake its reconcile: exactly those `decide` acts on."""

from __future__ import annotations

from typing import Any

import pytest

from taskops.domain.execution.attempts import job_event_matters, pod_event_matters
from tests.builders import T0, job, pod
from tests.unit.decisions import RUNNING, decide, make_run, make_task

# A Job's life as the Job controller writes it, and its pod's as the scheduler and the kubelet (kwok) write it.
RUNNING_JOBS = [job(), job(status={"active": 1}), job(status={"active": 1, "ready": 1}), job(status={"active": 0})]
LIVE_PODS = [pod(None, phase="Pending"), pod(None), pod(0, phase="Running")]


@pytest.mark.parametrize("job_obj", RUNNING_JOBS)
@pytest.mark.parametrize("pod_obj", LIVE_PODS)
def test_events_filtered_out_are_those_decide_does_nothing_on(job_obj: dict[str, Any], pod_obj: dict[str, Any]) -> None:
    assert not job_event_matters("MODIFIED", job_obj)
    assert not pod_event_matters(pod_obj, job_obj)
    assert decide(make_run(RUNNING), make_task(), job_obj, [pod_obj], T0).empty


@pytest.mark.parametrize("type_", ["ADDED", "DELETED"])
def test_a_job_appearing_or_going_always_wakes_its_run(type_: str) -> None:
    # A Run made ahead is started by its fire's Job; a Job gone is created again (decide's _job_missing).
    assert job_event_matters(type_, job())
    assert decide(make_run(RUNNING), make_task(), None, [], T0).create_job is not None


@pytest.mark.parametrize("condition", ["Complete", "Failed"])
def test_a_finished_job_wakes_its_run_and_so_does_each_pod_event_after(condition: str) -> None:
    ended = job(condition=condition)
    assert job_event_matters("MODIFIED", ended)
    # A Job seen Failed before its pod's terminated state: the pod's next event gives the exit code.
    assert pod_event_matters(pod(3, "Error"), ended)
    assert not decide(make_run(RUNNING), make_task(), ended, [pod(3, "Error")], T0).empty


def test_a_pod_that_cannot_start_wakes_its_run() -> None:
    stuck = pod(waiting="ErrImagePull", message="no such image")
    assert pod_event_matters(stuck, job())
    assert decide(make_run(RUNNING), make_task(), job(), [stuck], T0).delete_job == "r-1"


def test_a_pod_whose_job_is_not_cached_wakes_its_run() -> None:
    assert pod_event_matters(pod(None), None)
