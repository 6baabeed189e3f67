"""The Task resource: a Job template plus (in later issues) a schedule and rules."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from taskops.domain.models.base import CamelModel, ObjectMeta


class JobTemplate(CamelModel):
    """What each attempt runs: the same shape as a CronJob's `jobTemplate`."""

    metadata: dict[str, Any] | None = Field(
        default=None,
        description="Labels and annotations copied onto every Job made from this template.",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
    )
    spec: dict[str, Any] = Field(
        description=(
            "A batch/v1 JobSpec (`kubectl explain job.spec`). taskops sets `backoffLimit: 0` "
            "(it owns retries) and `restartPolicy: Never` when unset; `template.spec.containers` is required."
        ),
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
    )


class TaskSpec(CamelModel):
    """The desired state of a Task."""

    title: str | None = Field(
        default=None, max_length=200, description="A human-readable title for the task (seed 001 `title`)."
    )
    description: str | None = Field(
        default=None, max_length=4000, description="What the task does (seed 001 `description`)."
    )
    created_by: str | None = Field(
        default=None,
        max_length=253,
        description="Who created the task: a user, service account or agent id (seed 001 `created_by`).",
    )
    payload: JobTemplate = Field(description="The Job template each Run of this task executes (seed 001 `payload`).")


class Task(CamelModel):
    """A task: a template every Run of it executes."""

    api_version: str = Field(default="taskops.dev/v1alpha1", description="API version.")
    kind: str = Field(default="Task", description="Kind.")
    metadata: ObjectMeta = Field(description="Standard object metadata.")
    spec: TaskSpec = Field(description="The desired state of the task.")
