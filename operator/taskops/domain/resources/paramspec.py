"""A Task's declared parameters (seed 000's params schema); validation is in `taskops.domain.resources.params`."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from taskops.domain.resources.base import CamelModel

ParamType = Literal["string", "integer", "number", "boolean", "json"]
# Environment variable names are built from param names, so they stay simple.
NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"


class ParamSpec(CamelModel):
    """One declared parameter of a Task (seed 000 params schema)."""

    name: str = Field(pattern=NAME_PATTERN, max_length=63, description="Parameter name (letters, digits, _).")
    type: ParamType = Field(default="string", description="string, integer, number, boolean or json.")
    default: Any = Field(
        default=None,
        description="Value used when a Run does not mention the parameter.",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
    )
    required: bool = Field(default=False, description="A Run must supply a non-null value (or a default exists).")
    enum: list[Any] | None = Field(
        default=None,
        description="Allowed values.",
        json_schema_extra={"items": {"x-kubernetes-preserve-unknown-fields": True}},
    )
    description: str | None = Field(default=None, max_length=2000, description="Help text (shown in the UI).")
