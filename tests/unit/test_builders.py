"""The test builders make what the API server would serve: every field they write is one the models know."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from taskops.domain.resources.agent import Agent
from taskops.domain.resources.run import Run
from taskops.domain.resources.task import Task
from tests import builders


def known(model: type[BaseModel], obj: dict[str, Any]) -> dict[str, Any]:
    """The object's spec as the model reads it: a field the model ignores (a typo, a stale name) goes missing."""
    spec: BaseModel = model.model_validate(obj).spec  # type: ignore[attr-defined]  # Task, Run and Agent have one
    return spec.model_dump(mode="json", by_alias=True, exclude_unset=True)


@pytest.mark.parametrize(
    ("model", "obj"),
    [
        (Task, builders.task()),
        (Task, builders.task("t", command=["sh"], pod_annotations=builders.pod_behaviour("1s"), maxRetries=2)),
        (Run, builders.run()),
        (Run, builders.run("r", "t", params={"n": 1}, callbackUrl="https://h/x", priority=10)),
        (Agent, builders.agent()),
        (Agent, builders.agent("gpu", 3, jobDefaults={"nodeSelector": {"pool": "gpu"}}, maxQueued=5)),
    ],
)
def test_every_spec_field_a_builder_writes_is_read_by_the_model(model: type[BaseModel], obj: dict[str, Any]) -> None:
    assert known(model, obj) == obj["spec"]


def test_a_field_the_model_does_not_know_is_caught() -> None:
    obj = builders.task(maxRetriez=2)
    assert known(Task, obj) != obj["spec"]


def test_metadata_and_status_overrides_merge_and_replace() -> None:
    run = builders.run(metadata={"namespace": "ns", "uid": "u"}, status={"phase": "RUNNING"})
    assert run["metadata"] == {"name": "r", "namespace": "ns", "uid": "u"}
    assert Run.model_validate(run).status.phase == "RUNNING"


def test_jobs_and_pods_look_as_served() -> None:
    job = builders.indexed_job(completed="0-2", failed="3", ended="Failed")
    assert (job["apiVersion"], job["kind"], job["spec"]["completionMode"]) == ("batch/v1", "Job", "Indexed")
    [cond] = job["status"]["conditions"]
    assert (cond["type"], cond["reason"], cond["lastTransitionTime"]) == (
        "Failed",
        "FailedIndexes",
        "2026-03-01T12:00:00Z",
    )
    pod = builders.pod(137, "OOMKilled", index=3)
    assert (pod["metadata"]["name"], pod["status"]["phase"]) == ("r-1-3", "Failed")
    assert pod["metadata"]["labels"] == {builders.JOB_NAME_LABEL: "r-1", builders.COMPLETION_INDEX: "3"}
    [state] = [s["state"] for s in pod["status"]["containerStatuses"]]
    assert state["terminated"]["exitCode"] == 137 and state["terminated"]["reason"] == "OOMKilled"
    assert builders.pod(1)["status"]["containerStatuses"][0]["state"]["terminated"]["reason"] == "Error"
    assert builders.pod(waiting="ErrImagePull")["status"]["phase"] == "Pending"
