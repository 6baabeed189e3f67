"""The Job built for a Run's attempt (domain/execution/jobs.py): a copy of the Task's template, never shared."""

from __future__ import annotations

from typing import Any

from taskops.domain.execution.jobs import build_job
from taskops.domain.resources.run import Run
from taskops.domain.resources.task import Task
from tests import builders


def _job(task_body: dict[str, Any]) -> tuple[Task, dict[str, Any]]:
    task = Task.model_validate({**task_body, "metadata": {**task_body["metadata"], "namespace": "ns", "uid": "u"}})
    run = Run.model_validate(builders.run("r", "t", metadata={"namespace": "ns", "uid": "v"}))
    return task, build_job(task, run, 1)


def test_the_job_never_shares_the_tasks_template_even_with_values_orjson_cannot_write() -> None:
    body = builders.task("t")
    # An integer past 64 bits (kopf reads Tasks with Python's json, which keeps it): copied the slow way.
    body["spec"]["payload"]["spec"]["template"]["spec"]["containers"][0]["args"] = [str(2**70)]
    body["spec"]["payload"]["spec"]["activeDeadlineSeconds"] = 2**70
    task, job = _job(body)
    assert job["spec"]["activeDeadlineSeconds"] == 2**70
    job["spec"]["template"]["spec"]["containers"][0]["image"] = "changed"
    assert task.spec.payload.spec["template"]["spec"]["containers"][0]["image"] == "busybox:1.36"
    task, job = _job(builders.task("t"))
    job["spec"]["template"]["spec"]["containers"].append({"name": "more"})
    assert len(task.spec.payload.spec["template"]["spec"]["containers"]) == 1
