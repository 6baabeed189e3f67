"""The API operations the client calls, each named by its method and path in the OpenAPI document.

Every public method of the client is marked with the operation it calls (`uses`), with what it sets itself
(`fixed`), what it deliberately leaves out and why (`omitted`), and what it adds (`client_only`).
tests/unit/client/test_contract.py reads these marks and the OpenAPI document and fails when either has a
route, a parameter or a body field the other lacks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from taskops.api import schemas
from taskops.api.openapi import TaskVersionList

R = TypeVar("R", bound=BaseModel)
F = TypeVar("F", bound=Callable[..., Any])
TASKS = "/api/v1/tasks"
RUNS = "/api/v1/runs"
EXECUTIONS = "/api/v1/integrations/executions"


@dataclass(frozen=True)
class Endpoint(Generic[R]):
    """`request`: the body's model; `safe`: sending it again cannot make a second Run or a second change
    (docs/client.md, "Retries")."""

    method: str
    path: str
    response: type[R] | None
    safe: bool
    request: type[BaseModel] | None = None


@dataclass(frozen=True)
class Use:
    endpoint: Endpoint[Any]
    fixed: tuple[str, ...] = ()
    omitted: Mapping[str, str] = field(default_factory=dict)
    client_only: tuple[str, ...] = ()


def uses(
    endpoint: Endpoint[Any],
    fixed: tuple[str, ...] = (),
    omitted: Mapping[str, str] | None = None,
    client_only: tuple[str, ...] = (),
) -> Callable[[F], F]:
    def mark(method: F) -> F:
        method.__taskops_use__ = Use(endpoint, fixed, omitted or {}, client_only)  # type: ignore[attr-defined]
        return method

    return mark


def use_of(method: Any) -> Use | None:
    found = getattr(method, "__taskops_use__", None)
    return found if isinstance(found, Use) else None


CREATE_TASK = Endpoint("post", TASKS, schemas.TaskOut, safe=False, request=schemas.TaskCreate)
LIST_TASKS = Endpoint("get", TASKS, schemas.TaskList, safe=True)
GET_TASK = Endpoint("get", TASKS + "/{id}", schemas.TaskOut, safe=True)
UPDATE_TASK = Endpoint("put", TASKS + "/{id}", schemas.TaskOut, safe=True, request=schemas.TaskUpdate)
DELETE_TASK = Endpoint[BaseModel]("delete", TASKS + "/{id}", None, safe=True)
PAUSE_TASK = Endpoint("post", TASKS + "/{id}/pause", schemas.TaskOut, safe=True)
RESUME_TASK = Endpoint("post", TASKS + "/{id}/resume", schemas.TaskOut, safe=True)
CANCEL_TASK = Endpoint("post", TASKS + "/{id}/cancel", schemas.TaskOut, safe=True)
SNOOZE_TASK = Endpoint("post", TASKS + "/{id}/snooze", schemas.TaskOut, safe=True, request=schemas.SnoozeRequest)
TASK_VERSIONS = Endpoint("get", TASKS + "/{id}/versions", TaskVersionList, safe=True)
RUN_NOW = Endpoint("post", TASKS + "/{id}/run_now", schemas.RunOut, safe=False, request=schemas.RunNowRequest)
VALIDATE_RUN_NOW = Endpoint(
    "post", TASKS + "/{id}/run_now", schemas.ValidateResult, safe=True, request=schemas.RunNowRequest
)
RUN_002 = Endpoint("post", TASKS + "/{id}/run", schemas.Run002, safe=False, request=schemas.TaskRunRequest)
RUN_003 = Endpoint("post", TASKS + "/{id}/runs", schemas.TaskRun003, safe=False, request=schemas.TaskRunsRequest)
CREATE_EXECUTION = Endpoint("post", EXECUTIONS, schemas.Execution, safe=False, request=schemas.ExecutionRequest)
GET_EXECUTION = Endpoint("get", EXECUTIONS + "/{id}", schemas.Execution, safe=True)
CANCEL_EXECUTION = Endpoint("post", EXECUTIONS + "/{id}/cancel", schemas.Execution, safe=True)
RUN_ACTION = Endpoint(
    "post", "/api/v1/actions/{name}/{mode}", schemas.RunOut, safe=False, request=schemas.ActionRunRequest
)
POST_EVENT = Endpoint("post", "/api/v1/events/{name}", schemas.EventResult, safe=False, request=schemas.EventRequest)
LIST_RUNS = Endpoint("get", RUNS, schemas.RunList, safe=True)
GET_RUN = Endpoint("get", RUNS + "/{id}", schemas.RunOut, safe=True)
CANCEL_RUN = Endpoint("post", RUNS + "/{id}/cancel", schemas.RunOut, safe=True)
RESUME_RUN = Endpoint("post", RUNS + "/{id}/resume", schemas.RunOut, safe=True)
RUN_LOGS = Endpoint[BaseModel]("get", RUNS + "/{id}/logs", None, safe=True)
RUN_RESULTS = Endpoint("get", RUNS + "/{id}/results", schemas.InputResultList, safe=True)
