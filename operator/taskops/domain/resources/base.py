"""Shared pieces of the resource models."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import AliasGenerator, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

# Kubernetes' own counters and durations are int32; a larger value has no meaning here and overflows
# Python's timedelta.
INT32_MAX = 2**31 - 1


class CamelModel(BaseModel):
    """Python names in code, camelCase in Kubernetes objects (the Kubernetes API convention)."""

    model_config = ConfigDict(
        alias_generator=AliasGenerator(validation_alias=to_camel, serialization_alias=to_camel),
        populate_by_name=True,
        # Objects read from the cluster may carry fields of a newer taskops; never fail on them.
        extra="ignore",
        use_enum_values=True,
    )

    def to_k8s(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


class ObjectMeta(CamelModel):
    """The part of Kubernetes object metadata taskops reads."""

    name: str = Field(description="Object name.")
    namespace: str | None = Field(default=None, description="Object namespace.")
    uid: str | None = Field(default=None, description="Object UID.")
    generation: int | None = Field(default=None, description="Spec generation.")
    resource_version: str | None = Field(default=None, description="Resource version.")
    creation_timestamp: dt.datetime | None = Field(default=None, description="Creation time.")
    labels: dict[str, str] | None = Field(default=None, description="Labels.")
    annotations: dict[str, str] | None = Field(default=None, description="Annotations.")
    owner_references: list[dict[str, Any]] | None = Field(default=None, description="Owners.")
    deletion_timestamp: dt.datetime | None = Field(default=None, description="Deletion time.")


class Condition(CamelModel):
    """A standard Kubernetes condition (metav1.Condition)."""

    type: str = Field(description="Condition type, e.g. Succeeded, Ended, Valid.")
    status: Literal["True", "False", "Unknown"] = Field(description="True, False or Unknown.")
    reason: str = Field(description="A CamelCase word saying why the condition has this status.")
    message: str = Field(default="", description="A human-readable explanation.")
    last_transition_time: dt.datetime = Field(description="When the status last changed.")
    observed_generation: int | None = Field(
        default=None, description="The .metadata.generation the condition was computed from."
    )
