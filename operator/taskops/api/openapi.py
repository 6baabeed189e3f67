"""The OpenAPI 3.1 document, generated from the request and response models, and its HTML page.

Each operation also states the Kubernetes RBAC it needs (`x-kubernetes-rbac`):
the API checks exactly that with a SubjectAccessReview.
"""

from __future__ import annotations

import copy
import html
import re
from dataclasses import dataclass, field
from typing import Any, get_args

from pydantic import BaseModel, Field
from pydantic.json_schema import models_json_schema

from taskops.api import schemas, seed_routes
from taskops.domain.execution.batchresults import InputStatus
from taskops.domain.resources import numericids
from taskops.domain.resources.task import ScheduleKind, TaskState

REF = "#/components/schemas/{model}"


@dataclass(frozen=True)
class Param:
    name: str
    where: str  # "query", "path" or "header"
    schema: dict[str, Any]
    description: str
    required: bool = False


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    summary: str
    rbac: str
    ok: int = 200
    response: type[BaseModel] | None = None
    request: type[BaseModel] | None = None
    body_required: bool = True
    params: tuple[Param, ...] = ()
    tags: tuple[str, ...] = field(default_factory=tuple)


NS = Param("namespace", "query", {"type": "string"}, "The namespace (default: the API's --namespace).")
ID = Param("id", "path", {"type": "string"}, "Name or uid (a task or run: also its integer id).", required=True)
LIMIT_OFFSET = (
    Param("limit", "query", {"type": "integer", "minimum": 1}, "Page size."),
    Param("offset", "query", {"type": "integer", "minimum": 0, "default": 0}, "Items to skip."),
)
WAIT = (
    Param("wait", "query", {"type": "boolean", "default": False}, "Hold the request until the run ends."),
    Param(
        "wait_timeout",
        "query",
        {"type": "integer", "minimum": 1, "maximum": 3600, "default": 300},
        "With wait: seconds to hold at most; then the run is returned as it is.",
    ),
)
TRIGGER = (
    *WAIT,
    Param("validate_only", "query", {"type": "boolean", "default": False}, "Validate and write nothing."),
    Param(
        "Idempotency-Key",
        "header",
        {"type": "string", "maxLength": 255},
        "Same key from the same caller: the original run (idempotent_replay: true).",
    ),
)
TASKS = "/api/v1/tasks"


class TaskVersion(BaseModel):
    """One version of a task: a ControllerRevision the operator wrote when the spec changed."""

    number: int = Field(description="1, 2, ...: the version a Run can pin.")
    id: str = Field(description="The ControllerRevision's name (task_version_id).")
    created_at: str | None = Field(default=None, description="When the version was written.")


class TaskVersionList(BaseModel):
    items: list[TaskVersion] = Field(description="Newest first.")
    total: int


OPERATIONS: tuple[Operation, ...] = (
    Operation("post", TASKS, "Create a task (seed 001)", "create tasks", 201, schemas.TaskOut, schemas.TaskCreate),
    Operation(
        "get",
        TASKS,
        "List tasks",
        "list tasks",
        response=schemas.TaskList,
        params=(
            Param("status", "query", {"enum": list(get_args(TaskState))}, "Filter by state."),
            Param("created_by", "query", {"type": "string"}, "Filter by creator."),
            Param("schedule_kind", "query", {"enum": list(get_args(ScheduleKind))}, "Filter by kind."),
            *LIMIT_OFFSET,
        ),
    ),
    Operation("get", TASKS + "/{id}", "Get a task", "get tasks", response=schemas.TaskOut, params=(ID,)),
    Operation(
        "put",
        TASKS + "/{id}",
        "Update a task (given fields only; makes a new version)",
        "patch tasks",
        response=schemas.TaskOut,
        request=schemas.TaskUpdate,
        params=(ID,),
    ),
    Operation("delete", TASKS + "/{id}", "Delete a task and its runs", "delete tasks", 204, params=(ID,)),
    *(
        Operation(
            "post",
            TASKS + "/{id}/" + a,
            f"{a.capitalize()} a task",
            "patch tasks",
            200,
            schemas.TaskOut,
            body_required=False,
            params=(ID,),
        )
        for a in ("pause", "resume", "cancel")
    ),
    Operation(
        "post",
        TASKS + "/{id}/snooze",
        "Delay the next fire",
        "patch tasks",
        200,
        schemas.TaskOut,
        schemas.SnoozeRequest,
        params=(ID,),
    ),
    Operation(
        "post",
        TASKS + "/{id}/run_now",
        "Run once now (seed 001)",
        "create runs",
        201,
        schemas.RunOut,
        schemas.RunNowRequest,
        False,
        (ID, *TRIGGER),
    ),
    Operation(
        "post",
        TASKS + "/{id}/run",
        "Trigger a run (seed 002)",
        "create runs",
        201,
        schemas.Run002,
        schemas.TaskRunRequest,
        False,
        (ID, *TRIGGER),
    ),
    Operation(
        "post",
        TASKS + "/{id}/runs",
        "Run a task with overrides (seed 003)",
        "create runs",
        201,
        schemas.TaskRun003,
        schemas.TaskRunsRequest,
        False,
        (ID, *TRIGGER),
    ),
    Operation(
        "post",
        "/api/v1/integrations/executions",
        "Queue an execution (seed 000)",
        "create runs",
        201,
        schemas.Execution,
        schemas.ExecutionRequest,
        True,
        TRIGGER,
    ),
    Operation(
        "get",
        "/api/v1/integrations/executions",
        "List executions (seed 000), newest first",
        "list runs",
        response=schemas.ExecutionList,
        params=(
            Param("status", "query", {"enum": list(get_args(schemas.ExecutionStatus))}, "Filter by status."),
            Param("agent_id", "query", {"type": "string"}, "Filter by agent (name or uid)."),
            Param("task_id", "query", {"type": "string"}, "Filter by task (name or uid)."),
            Param("task_version_id", "query", {"type": "string"}, "Filter by the pinned version (id or uid)."),
            Param("reference", "query", {"type": "string"}, "Filter by your reference."),
            Param("triggered_by", "query", {"type": "string"}, "Filter by origin: manual, api, cron, ..."),
            Param("sort", "query", {"type": "string"}, "created_at, status, priority; '-' for descending."),
            Param("limit", "query", {"type": "integer", "minimum": 1, "maximum": 100, "default": 10}, "Page size."),
            Param("offset", "query", {"type": "integer", "minimum": 0, "default": 0}, "Items to skip."),
        ),
    ),
    Operation(
        "get",
        "/api/v1/integrations/executions/{id}",
        "Get an execution",
        "get runs",
        response=schemas.Execution,
        params=(ID,),
    ),
    Operation(
        "post",
        "/api/v1/integrations/executions/{id}/cancel",
        "Abort an execution",
        "patch runs",
        200,
        schemas.Execution,
        body_required=False,
        params=(ID,),
    ),
    Operation(
        "post",
        "/api/v1/actions/{name}/{mode}",
        "Run an action: live, async or schedule (seed 004); schedule with cron answers a Schedule",
        "create runs",
        201,
        schemas.ActionRunResult,
        schemas.ActionRunRequest,
        False,
        (
            Param("name", "path", {"type": "string"}, "The task.", required=True),
            Param("mode", "path", {"enum": ["live", "async", "schedule"]}, "Execution mode.", required=True),
            *TRIGGER,
        ),
    ),
    Operation(
        "get",
        "/api/v1/schedules",
        "List schedules (seed 004)",
        "list tasks",
        response=schemas.ScheduleList,
        params=(Param("action_name", "query", {"type": "string"}, "Filter by action."), *LIMIT_OFFSET),
    ),
    Operation(
        "get", "/api/v1/schedules/{id}", "Get a schedule", "get tasks", response=schemas.ScheduleOut, params=(ID,)
    ),
    *(
        Operation(
            "post",
            "/api/v1/schedules/{id}/" + a,
            f"{a.capitalize()} a schedule",
            "patch tasks",
            200,
            schemas.ScheduleOut,
            body_required=False,
            params=(ID,),
        )
        for a in ("pause", "resume")
    ),
    Operation(
        "delete", "/api/v1/schedules/{id}", "Delete a schedule and the runs it fired", "delete tasks", 204, params=(ID,)
    ),
    Operation(
        "get",
        "/api/v1/runs",
        "List runs (seed 004)",
        "list runs",
        response=schemas.RunList,
        params=(
            Param("status", "query", {"type": "string"}, "CREATED, QUEUED, RUNNING, SUCCEEDED, ..."),
            Param("action_name", "query", {"type": "string"}, "Filter by task."),
            Param("task_name", "query", {"type": "string"}, "Filter by task."),
            Param("execution_mode", "query", {"enum": ["LIVE", "ASYNC", "SCHEDULE"]}, "Filter by mode."),
            Param("uid", "query", {"type": "string"}, "Filter by run uid."),
            Param("user_uid", "query", {"type": "string"}, "Filter by the user who triggered it."),
            Param("workspace_uid", "query", {"type": "string"}, "Filter by namespace."),
            Param("sort", "query", {"type": "string"}, "created_at, status, updated_at; '-' for descending."),
            *LIMIT_OFFSET,
        ),
    ),
    Operation("get", "/api/v1/runs/{id}", "Get a run", "get runs", response=schemas.RunOut, params=(ID, *WAIT)),
    Operation(
        "post",
        "/api/v1/runs/{id}/cancel",
        "Cancel a run",
        "patch runs",
        200,
        schemas.RunOut,
        body_required=False,
        params=(ID,),
    ),
    Operation(
        "post",
        "/api/v1/runs/{id}/resume",
        "Resume a stopped or failed run",
        "create runs",
        201,
        schemas.RunOut,
        body_required=False,
        params=(ID,),
    ),
    Operation(
        "get",
        "/api/v1/runs/{id}/logs",
        "A run's log: every attempt's pods in order (text, optionally followed until the run ends)",
        "get runs, get pods/log",
        params=(
            ID,
            Param("follow", "query", {"type": "boolean", "default": False}, "Stream until the run ends."),
            Param("container", "query", {"type": "string"}, "Container (default: the first)."),
            Param("index", "query", {"type": "integer", "minimum": 0}, "A batch run's input (required for one)."),
        ),
    ),
    Operation(
        "get",
        "/api/v1/runs/{id}/results",
        "A batch run's per-input results, by ascending index",
        "get runs",
        response=schemas.InputResultList,
        params=(
            ID,
            Param("status", "query", {"enum": list(get_args(InputStatus))}, "Only inputs that ended so."),
            Param("limit", "query", {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}, "Page size."),
            Param("offset", "query", {"type": "integer", "minimum": 0, "default": 0}, "Entries to skip."),
        ),
    ),
    Operation(
        "post",
        "/api/v1/events/{name}",
        "Post an event: fires every task listening to it",
        "create runs",
        202,
        schemas.EventResult,
        schemas.EventRequest,
        False,
        (Param("name", "path", {"type": "string"}, "Event name.", required=True),),
    ),
    Operation(
        "get",
        "/api/v1/agents",
        "List agents with their capacity and load (seed 000's agent_id)",
        "list agents",
        response=schemas.AgentList,
        params=(
            Param("usable", "query", {"type": "boolean", "default": False}, "Only agents you may use."),
            Param("limit", "query", {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}, "Page size."),
            Param("offset", "query", {"type": "integer", "minimum": 0, "default": 0}, "Items to skip."),
        ),
    ),
    Operation(
        "get", TASKS + "/{id}/versions", "List a task's versions", "get tasks", response=TaskVersionList, params=(ID,)
    ),
)

_ERRORS = {
    "400": "Malformed request (e.g. invalid JSON)",
    "401": "No or invalid bearer token",
    "403": "RBAC does not allow it",
    "404": "No such object",
    "409": "Conflict with the object's state",
    "413": "Body larger than the route's limit, or too costly to parse",
    "422": "Invalid fields (see errors)",
    "429": "The caller holds its share of waiters, streams or body memory, or sends too many new tokens (Retry-After)",
    "503": "The API process is full, or the Kubernetes API is unreachable (Retry-After)",
}


def _parameter(p: Param) -> dict[str, Any]:
    return {"name": p.name, "in": p.where, "required": p.required, "description": p.description, "schema": p.schema}


def _operation(op: Operation) -> dict[str, Any]:
    ok: dict[str, Any] = {"description": "OK"}
    if op.response is not None:
        ok["content"] = {"application/json": {"schema": {"$ref": REF.format(model=op.response.__name__)}}}
    elif op.path.endswith("/logs"):
        ok["content"] = {"text/plain": {"schema": {"type": "string"}}}
    problem = {"application/problem+json": {"schema": {"$ref": REF.format(model="Problem")}}}
    responses: dict[str, Any] = {str(op.ok): ok}
    if op.ok == 201 and op.response is not None:
        # A replay, a wait or validate_only answers 200; validate_only with what the run would be.
        responses["200"] = {**ok, "description": "Replay, waited result, or validate_only"}
        if any(p.name == "validate_only" for p in op.params):
            # anyOf, not oneOf: a shape whose fields are all optional (seed 003's) also matches a ValidateResult, and
            # oneOf would call that answer invalid (`make fuzz` found it, issue 20).
            either = {"anyOf": [{"$ref": REF.format(model=m.__name__)} for m in (op.response, schemas.ValidateResult)]}
            responses["200"] = {**responses["200"], "content": {"application/json": {"schema": either}}}
    if op.path == "/api/v1/runs/{id}/resume":
        responses["202"] = {
            **ok,
            "description": "A batch run resumes in place: a new attempt over what did not succeed",
        }
    for code, text in _ERRORS.items():
        responses[code] = {"description": text, "content": problem}
    out: dict[str, Any] = {
        "summary": op.summary,
        "operationId": op.method + "_" + re.sub(r"[/{}]+", "_", op.path.removeprefix("/api/v1/")).strip("_"),
        "parameters": [_parameter(NS), *(_parameter(p) for p in op.params)],
        "responses": responses,
        "security": [{"bearer": []}],
        "x-kubernetes-rbac": op.rbac + " (group taskops.dev unless stated)",
    }
    if op.request is not None:
        out["requestBody"] = {
            "required": op.body_required,
            "content": {"application/json": {"schema": {"$ref": REF.format(model=op.request.__name__)}}},
        }
    return out


# OpenAPI links: what a created object's id opens next, for typed clients and schemathesis' stateful run
# (tests/integration/test_api_schema.py). (the operation that creates, its status, the field to take, the paths
# under which the operations that take it as {id} are).
_LINKED = (
    ("post", TASKS, "201", "name", TASKS + "/{id}"),
    ("post", TASKS + "/{id}/run_now", "201", "id", "/api/v1/runs/{id}"),
    ("post", "/api/v1/actions/{name}/{mode}", "201", "id", "/api/v1/runs/{id}"),
    ("post", "/api/v1/integrations/executions", "201", "id", "/api/v1/integrations/executions/{id}"),
)


def _add_links(paths: dict[str, dict[str, Any]]) -> None:
    for method, path, status, field_, under in _LINKED:
        response = paths[path][method]["responses"][status]
        response["links"] = {
            op["operationId"]: {"operationId": op["operationId"], "parameters": {"id": f"$response.body#/{field_}"}}
            for target, ops in paths.items()
            if target == under or target.startswith(under + "/")
            for op in ops.values()
        }


# What a drop-in route does differently from the operation it shares a handler with.
_DROP_IN_NOTES = {
    "002": (
        " Param values may be strings, as seed 002 sends them: each is converted to the param's declared type"
        ' ("5" → 5, "true"/"false" → booleans, JSON text for json params), or a 422 names the param.'
    ),
}


def _drop_in(served: dict[str, Any], route: seed_routes.SeedRoute) -> dict[str, Any]:
    """The served operation's entry, under the seed's own path and parameter names."""
    out = copy.deepcopy(served)
    renames = route.renames()
    reverse = {theirs: own for own, theirs in renames.items()}
    for param in out["parameters"]:
        if param["in"] == "path":
            param["name"] = reverse[param["name"]]
        if param["in"] == "path" and param["name"] in route.integer:
            # The seed numbers it (JavaScript's safe range): the handler takes an integer id, a name or a uid.
            param["schema"] = {"type": "integer", "minimum": 1, "maximum": numericids.MAX}
            param["description"] = "The integer id (a name or uid is taken too)."
    out["operationId"] = f"seed{route.seed}_{route.method}_" + re.sub(r"[/{}]+", "_", route.path).strip("_")
    out["tags"] = [f"drop-in: seed {route.seed}"]
    out["description"] = (
        f"Seed {route.seed}'s own path for `{route.method.upper()} {route.serves}`: the same handler, auth and "
        "response." + _DROP_IN_NOTES.get(route.seed, "")
    )
    return out


def document() -> dict[str, Any]:
    models = {op.request for op in OPERATIONS if op.request} | {op.response for op in OPERATIONS if op.response}
    models |= {schemas.Problem, schemas.ValidateResult}
    _, defs = models_json_schema(
        [(m, "validation") for m in sorted(models, key=lambda m: m.__name__)], ref_template=REF
    )
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method] = _operation(op)
    _add_links(paths)
    for route in seed_routes.ROUTES:
        paths.setdefault(route.path, {})[route.method] = _drop_in(paths[route.serves][route.method], route)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "taskops API",
            "version": "v1",
            "description": "Every write is a write of a Task or Run custom resource (taskops.dev/v1alpha1).",
        },
        "paths": paths,
        "components": {
            "schemas": defs.get("$defs", {}),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "A Kubernetes token"}},
        },
    }


def docs_page(doc: dict[str, Any]) -> str:
    """A self-contained page (no CDN: clusters are often offline) listing every operation."""
    rows = []
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            params = ", ".join(p["name"] for p in op["parameters"])
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
            body_name = body.get("$ref", "").rsplit("/", 1)[-1]
            rows.append(
                f"<tr><td><code>{method.upper()}</code></td><td><code>{html.escape(path)}</code></td>"
                f"<td>{html.escape(op['summary'])}</td><td>{html.escape(params)}</td>"
                f"<td>{html.escape(body_name)}</td><td>{html.escape(op['x-kubernetes-rbac'])}</td></tr>"
            )
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>taskops API</title>"
        "<style>body{font-family:sans-serif;margin:2em}td,th{border-bottom:1px solid #ddd;padding:4px 8px;"
        "text-align:left;vertical-align:top}</style></head><body><h1>taskops API v1</h1>"
        "<p>Machine-readable: <a href='openapi.json'>openapi.json</a>. Authenticate with "
        "<code>Authorization: Bearer &lt;Kubernetes token&gt;</code>; errors are application/problem+json.</p>"
        "<table><tr><th>Method</th><th>Path</th><th>What</th><th>Parameters</th><th>Body</th><th>RBAC</th></tr>"
        + "".join(rows)
        + "</table></body></html>"
    )
