"""The Agent resource: an executor Runs are queued for, with a capacity (seed 000 `agent_id`)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from taskops import API_VERSION
from taskops.domain.resources.base import INT32_MAX, CamelModel, ObjectMeta


class JobDefaults(CamelModel):
    """What every Job run by this agent gets (merged into the Task's pod template)."""

    service_account_name: str | None = Field(default=None, description="Service account of the pods.")
    node_selector: dict[str, str] | None = Field(default=None, description="Added to the pods' nodeSelector.")
    tolerations: list[dict[str, Any]] | None = Field(
        default=None,
        description="Added to the pods' tolerations.",
        json_schema_extra={"items": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
    )


class AgentSpec(CamelModel):
    """The desired state of an Agent."""

    description: str | None = Field(default=None, max_length=2000, description="What this executor is for.")
    capacity: int = Field(default=1, ge=1, le=100000, description="Runs of this agent running at once.")
    max_queued: int | None = Field(
        default=None,
        ge=0,
        le=INT32_MAX,
        description="Runs waiting for this agent at most; beyond it a Run ends queue_full.",
    )
    job_defaults: JobDefaults | None = Field(default=None, description="Pod settings for this agent's Jobs.")


class AgentStatus(CamelModel):
    """The observed state of an Agent."""

    running: int | None = Field(default=None, description="Runs of this agent admitted and not ended.")
    waiting: int | None = Field(default=None, description="Runs waiting for this agent.")


class Agent(CamelModel):
    """An executor with a capacity."""

    api_version: str = Field(default=API_VERSION, description="API version.")
    kind: str = Field(default="Agent", description="Kind.")
    metadata: ObjectMeta = Field(description="Standard object metadata.")
    spec: AgentSpec = Field(default_factory=AgentSpec, description="The desired state of the agent.")
    status: AgentStatus = Field(default_factory=AgentStatus, description="The observed state of the agent.")
