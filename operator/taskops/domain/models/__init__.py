"""pydantic models of the custom resources: the single source of their schemas.

`python -m taskops.crds` turns these into the CRD YAML; the operator parses
objects with them. Every field carries a description (it becomes `kubectl
explain` text, and a test fails on a field without one).
"""

from taskops.domain.models.run import Run, RunSpec, RunStatus
from taskops.domain.models.task import Task, TaskSpec

__all__ = ["Run", "RunSpec", "RunStatus", "Task", "TaskSpec"]
