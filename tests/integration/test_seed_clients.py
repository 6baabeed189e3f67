"""A client written for a seed works unchanged (issue 20): each seed's own example requests, at the seed's own
path, with the seed's own value types, against the real control plane; every response field the seed documents
is checked against the seed's own schema, read strictly (required fields, types without null, enums).

Where taskops still differs from a seed, the difference is named in DIFFERENCES and docs/api.md says why.
"""

from __future__ import annotations

import uuid
from typing import Any

import jsonschema
import requests

from tests import builders
from tests.integration.api import Caller, assert_problem, task_body
from tests.integration.kube import Kube, wait_for

NOW_OR_LATER = {"type": "string", "format": "date-time"}


def _strict(schema: dict[str, Any], value: Any) -> None:
    jsonschema.validate(value, schema, format_checker=jsonschema.FormatChecker())


def _json(resp: requests.Response, status: int | tuple[int, ...]) -> Any:
    assert resp.status_code in ((status,) if isinstance(status, int) else status), resp.text
    assert resp.headers["Content-Type"].startswith("application/json"), resp.headers
    return resp.json()


# --- seed 001: the Tasks API at /tasks -----------------------------------------------------------------------

TASK_001 = {
    "type": "object",
    # Every field of POST /tasks comes back as it was given (GET /tasks/{id}: "the full details").
    "required": ["id", "title", "description", "schedule_kind", "schedule_expr", "timezone", "created_by", "priority"],
    "properties": {
        "id": {"type": "string"},
        "title": {"type": "string"},
        "description": {"type": "string"},
        "schedule_kind": {"enum": ["cron", "rrule", "once", "event"]},
        "schedule_expr": {"type": "string"},
        "timezone": {"type": "string"},
        "created_by": {"type": "string"},
        "priority": {"type": "integer", "minimum": 1, "maximum": 9},
        "status": {"enum": ["active", "paused", "canceled"]},
    },
}


def test_seed_001_tasks_api_at_its_own_paths(api: Caller, kube: Kube, ns: str) -> None:
    agent_uuid = str(uuid.uuid4())
    definition = {
        "title": "Nightly export",
        "description": "Exports the day's orders",
        "schedule_kind": "cron",
        "schedule_expr": "0 2 * * *",
        "timezone": "Europe/Chisinau",
        "payload": builders.task("x")["spec"]["payload"],
        "created_by": agent_uuid,
        "priority": 2,
        "max_retries": 5,
        "backoff_strategy": "linear",
        "dedupe_key": "export",
        "dedupe_window_seconds": 600,
        "concurrency_key": "exports",
    }
    task = _json(api.post("/tasks", json=definition), 201)
    _strict(TASK_001, task)
    for field in ("title", "description", "schedule_kind", "schedule_expr", "timezone", "created_by", "priority"):
        assert task[field] == definition[field], field
    spec = task["spec"]
    assert (spec["max_retries"], spec["backoff_strategy"], spec["dedupe_key"]) == (5, "linear", "export")
    assert (spec["dedupe_window_seconds"], spec["concurrency_key"]) == (600, "exports")
    task_id = task["id"]  # seed 001 addresses a task by its UUID
    uuid.UUID(task_id)
    assert _json(api.get(f"/tasks/{task_id}"), 200)["title"] == "Nightly export"

    # GET /tasks with every documented filter.
    other = _json(api.post("/tasks", json={**definition, "title": "Other", "schedule_kind": "event"}), 201)
    listed = _json(
        api.get("/tasks", params={"status": "active", "created_by": agent_uuid, "schedule_kind": "cron"}), 200
    )
    assert [t["id"] for t in listed["items"]] == [task_id]
    page = _json(api.get("/tasks", params={"limit": 1, "offset": 1}), 200)
    assert [t["id"] for t in page["items"]] == [other["id"]]
    assert _json(api.get("/tasks"), 200)["limit"] == 50  # the documented default

    # PUT /tasks/{id}: only the fields given change.
    updated = _json(api.put(f"/tasks/{task_id}", json={"priority": 9, "description": "changed"}), 200)
    assert (updated["priority"], updated["description"], updated["title"]) == (9, "changed", "Nightly export")

    # The lifecycle actions.
    run = _json(api.post(f"/tasks/{task_id}/run_now"), 201)
    assert run["task_id"] == task_id and run["status"] in ("CREATED", "QUEUED", "RUNNING", "SUCCEEDED")
    snoozed = _json(api.post(f"/tasks/{task_id}/snooze", json={"delay_seconds": 3600, "reason": "maintenance"}), 200)
    assert snoozed["snooze_reason"] == "maintenance" or snoozed["spec"]["snooze"]["reason"] == "maintenance"
    assert _json(api.post(f"/tasks/{task_id}/pause"), 200)["status"] == "paused"
    assert _json(api.post(f"/tasks/{task_id}/resume"), 200)["status"] == "active"
    assert _json(api.post(f"/tasks/{task_id}/cancel"), 200)["status"] == "canceled"
    assert_problem(api.post(f"/tasks/{task_id}/resume"), 409)  # "This action cannot be undone."
    assert_problem(api.post("/tasks", json={**definition, "priority": 10}), 422, "body.priority")


def test_seed_routes_need_the_same_token_and_rbac(api: Caller) -> None:
    for method, path in [("GET", "/tasks"), ("POST", "/api/tasks/x/run"), ("GET", "/v1/runs")]:
        resp = requests.request(method, api.base + path, params={"namespace": api.namespace}, timeout=30)
        assert_problem(resp, 401)


# --- seed 002: POST /api/tasks/{taskName}/run ----------------------------------------------------------------

END_REASONS_002 = [
    "success", "failed", "stopped", "timeout", "crashed", "skipped", "log_overflow", "queue_full",
    "dst_skipped", "daemon_stopped", "missed", "start_failed",
]  # fmt: skip
RUN_002 = {
    "type": "object",
    "required": [
        "created_at",
        "exit_code",
        "id",
        "instance_index",
        "retry_attempt",
        "status",
        "task_name",
        "triggered_by",
    ],
    "properties": {
        "$schema": {"type": "string", "format": "uri"},
        "created_at": NOW_OR_LATER,
        "end_at": NOW_OR_LATER,
        "end_reason": {"type": "string", "enum": END_REASONS_002},
        "exit_code": {"type": "integer"},
        "external_execution_id": {"type": "string"},
        "id": {"type": "string"},
        "instance_index": {"type": "integer"},
        "params": {"type": "object", "additionalProperties": {"type": "string"}},
        "retry_attempt": {"type": "integer"},
        "retry_of_run_id": {"type": "string"},
        "start_at": NOW_OR_LATER,
        "status": {"type": "string", "enum": ["pending", "running", "ended"]},
        "task_name": {"type": "string"},
        "triggered_by": {"type": "string", "enum": ["cron", "api", "cloud", "service", "startup"]},
    },
}
# Until the run ends, exit_code is absent (docs/api.md, "drop-in routes"): the one required field left out.
RUN_002_NOT_ENDED = {**RUN_002, "required": [f for f in RUN_002["required"] if f != "exit_code"]}
PROBLEM_002 = {
    "type": "object",
    "required": ["status", "title", "errors"],
    "properties": {
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {"type": "object", "properties": {"location": {"type": "string"}, "message": {"type": "string"}}},
        },
        "status": {"type": "integer"},
        "title": {"type": "string"},
        "type": {"type": "string"},
    },
}


def test_seed_002_trigger_with_string_values_at_its_own_path(api: Caller, kube: Kube, ns: str) -> None:
    params = [
        {"name": "additionalProperty", "type": "string"},
        {"name": "limit", "type": "integer", "default": 10},
        {"name": "ratio", "type": "number"},
        {"name": "dry_run", "type": "boolean", "default": False},
        {"name": "filter", "type": "json"},
    ]
    assert api.post("/api/v1/tasks", json=task_body("example", params=params)).status_code == 201
    # The seed's own example: POST /api/tasks/example/run?wait_timeout=300 with one string param.
    pending = _json(
        api.post(
            "/api/tasks/example/run", params={"wait_timeout": "300"}, json={"params": {"additionalProperty": "example"}}
        ),
        201,
    )
    _strict(RUN_002_NOT_ENDED if pending["status"] != "ended" else RUN_002, pending)
    assert pending["task_name"] == "example" and pending["triggered_by"] == "api"
    assert "exit_code" not in pending or pending["status"] == "ended"

    # A stock 002 client sends every value as a string; wait=true returns the ended run with its exit code.
    body = {
        "$schema": "http://localhost:9477/schemas/TriggerRunRequest.json",
        "params": {"additionalProperty": "", "limit": "5", "ratio": "0.5", "dry_run": "true", "filter": '{"a": [1]}'},
    }
    ended = _json(api.post("/api/tasks/example/run", params={"wait": "true", "wait_timeout": "120"}, json=body), 200)
    _strict(RUN_002, ended)
    assert (ended["status"], ended["end_reason"], ended["exit_code"]) == ("ended", "success", 0)
    assert (ended["retry_attempt"], ended["instance_index"]) == (0, 0) and "retry_of_run_id" not in ended
    assert ended["params"] == {
        "additionalProperty": "",
        "limit": "5",
        "ratio": "0.5",
        "dry_run": "true",
        "filter": '{"a": [1]}',
    }
    stored = kube.run(ns, ended["id"])["spec"]["params"]
    assert stored == {"additionalProperty": "", "limit": 5, "ratio": 0.5, "dry_run": True, "filter": {"a": [1]}}
    assert ended["external_execution_id"] == kube.run(ns, ended["id"])["metadata"]["uid"]

    # null omits a param (its default is not used); a value that cannot be converted is a 422 naming it.
    omitted = _json(api.post("/api/tasks/example/run", json={"params": {"limit": None}}), 201)
    assert (
        "limit" not in (kube.run(ns, omitted["id"])["spec"].get("params") or {}) or omitted["params"]["limit"] == "null"
    )
    bad = api.post("/api/tasks/example/run", json={"params": {"limit": "five", "dry_run": "maybe"}})
    problem = assert_problem(bad, 422, "body.params.limit")
    _strict(PROBLEM_002, problem)
    assert {e["location"] for e in problem["errors"]} == {"body.params.limit", "body.params.dry_run"}
    # /api/v1 keeps strict typing: the same strings are refused there.
    assert_problem(api.post("/api/v1/tasks/example/run", json={"params": {"limit": "5"}}), 422, "body.params.limit")
    # The seed's task name rule, at its own path.
    assert_problem(api.post("/api/tasks/no%20spaces/run", json={}), 404)


def test_seed_002_run_object_of_a_retried_run(api: Caller, kube: Kube, ns: str) -> None:
    """retry_of_run_id names a run (this one, retried), the attempt is retry_attempt; exit_code the last one's."""
    body = task_body("flaky", max_retries=1, backoff_strategy="fixed")
    body["payload"] = builders.task("x", pod_annotations=builders.pod_behaviour(exit_code=3))["spec"]["payload"]
    assert api.post("/api/v1/tasks", json=body).status_code == 201
    ended = _json(api.post("/api/tasks/flaky/run", params={"wait": "true", "wait_timeout": "180"}, json={}), 200)
    _strict(RUN_002, ended)
    assert (ended["status"], ended["end_reason"], ended["exit_code"]) == ("ended", "failed", 3)
    assert (ended["retry_attempt"], ended["retry_of_run_id"]) == (1, ended["id"])


# --- seed 003: POST /api/tasks/{task_id}/runs ----------------------------------------------------------------

ACTION_003 = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "params": {"type": "object"},
        "is_done": {"type": "boolean"},
        "success": {"type": ["boolean", "null"]},
        "extracted_content": {"type": ["string", "null"]},
        "error": {"type": ["string", "null"]},
        "include_in_memory": {"type": "boolean"},
    },
}
RESPONSE_003 = {
    "type": "object",
    "properties": {
        # Seed 003 numbers tasks and runs: integer ids a JavaScript client holds exactly.
        "task_id": {"type": ["integer", "null"], "minimum": 1, "maximum": 2**53 - 1},
        "task_run_id": {"type": ["integer", "null"], "minimum": 1, "maximum": 2**53 - 1},
        "history": {
            "type": ["array", "null"],
            "items": {
                "type": "object",
                "properties": {"description": {"type": "string"}, "actions": {"type": "array", "items": ACTION_003}},
            },
        },
        "result": {},
        "is_done": {"type": ["boolean", "null"]},
        "is_successful": {"type": ["boolean", "null"]},
        "status": {"enum": ["success", "failure", "in_progress"]},
    },
}
OVERRIDES_003 = ["prompt", "model", "provider", "response_format", "json_schema", "use_cached_workflow"]


def _task_003(api: Caller, name: str) -> int:
    """A task accepting seed 003's overrides, answering {"answer": 42}; its integer id."""
    body = task_body(
        name,
        overrides=[
            {
                "name": field,
                "type": "boolean" if field == "use_cached_workflow" else "json" if field == "json_schema" else "string",
            }
            for field in OVERRIDES_003
        ],
    )
    body["payload"] = builders.task("x", pod_annotations=builders.pod_behaviour(message='{"answer": 42}'))["spec"][
        "payload"
    ]
    created = _json(api.post("/api/v1/tasks", json=body), 201)
    assert isinstance(created["numeric_id"], int) and 1 <= created["numeric_id"] <= 2**53 - 1
    return int(created["numeric_id"])


def test_seed_003_run_task_at_its_own_path(api: Caller, ns: str) -> None:
    task_id = _task_003(api, "summarise-orders")
    # The seed's example body (its webhook_url is left out: test_webhooks.py delivers webhooks), at its path
    # with an integer task_id.
    example = {
        "prompt": "Summarise the orders",
        "model": "gpt-4o",
        "provider": "openai",
        "wait_for_completion": True,
        "response_format": "json",
        "json_schema": {"type": "object"},
        "use_cached_workflow": True,
    }
    out = _json(api.post(f"/api/tasks/{task_id}/runs", json=example), (200, 201))
    _strict(RESPONSE_003, out)
    assert (out["status"], out["is_done"], out["is_successful"]) == ("success", True, True)
    assert out["result"] == {"answer": 42} and out["task_id"] == task_id
    background = _json(api.post(f"/api/tasks/{task_id}/runs", json={"wait_for_completion": False}), 201)
    _strict(RESPONSE_003, background)
    assert background["status"] in ("in_progress", "success") and background["task_id"] == task_id
    assert isinstance(background["task_run_id"], int) and background["task_run_id"] != out["task_run_id"]
    # The ids are stable: the same in every answer, and each addresses its object on the other routes.
    run = _json(api.get(f"/api/v1/runs/{out['task_run_id']}"), 200)
    assert (run["id"], run["numeric_id"]) == (out["run_name"], out["task_run_id"])
    assert _json(api.get(f"/tasks/{task_id}"), 200)["numeric_id"] == task_id
    # A number no task has is a 404 problem; the integer id of a run is no task's.
    assert_problem(api.post(f"/api/tasks/{out['task_run_id']}/runs", json={}), 404)


def test_seed_003_a_task_named_by_digits_is_found_by_its_name(api: Caller, ns: str) -> None:
    # A DNS name may be all digits: a task named 4242 is found by its name at 003's path (4242 is no task's
    # integer id; where it is one, the request is a 409 naming both: test_lookups.py).
    _task_003(api, "4242")
    out = _json(api.post("/api/tasks/4242/runs", json={"wait_for_completion": False}), 201)
    _strict(RESPONSE_003, out)
    assert out["run_name"].startswith("4242-")


# --- seed 004: /v1/actions and /v1/runs --------------------------------------------------------------------

STATUSES_004 = [
    "CREATED", "INVALID", "QUEUED", "SCHEDULED", "BLOCKED",
    "STOPPED", "RUNNING", "FAILED", "PARTIAL_SUCCEEDED", "SUCCEEDED",
]  # fmt: skip
RUN_004 = {
    "type": "object",
    "required": ["uid", "status", "execution_mode", "action_name", "created_at"],
    "properties": {
        "uid": {"type": "string"},
        "status": {"enum": STATUSES_004},
        "execution_mode": {"enum": ["LIVE", "ASYNC", "SCHEDULE"]},
        "action_name": {"type": "string"},
        "user_uid": {"type": ["string", "null"]},
        "workspace_uid": {"type": "string"},
        "created_at": NOW_OR_LATER,
        "updated_at": {"type": ["string", "null"]},
        "error": {"type": ["string", "null"]},
    },
}


def test_seed_004_actions_and_runs_at_their_own_paths(api: Caller, kube: Kube, ns: str) -> None:
    body = task_body("order-sync", params=[{"name": "orderId", "type": "string", "required": True}])
    assert api.post("/api/v1/tasks", json=body).status_code == 201
    fail = task_body("order-fail")
    fail["payload"] = builders.task("x", pod_annotations=builders.pod_behaviour(exit_code=1))["spec"]["payload"]
    assert api.post("/api/v1/tasks", json=fail).status_code == 201

    live = _json(api.post("/v1/actions/order-sync/live", json={"input": {"orderId": "ORD-1"}}), 200)
    _strict(RUN_004, live)
    assert (live["status"], live["execution_mode"], live["action_name"]) == ("SUCCEEDED", "LIVE", "order-sync")
    queued = _json(api.post("/v1/actions/order-sync/async", json={"input": {"orderId": "ORD-2"}}), 201)
    _strict(RUN_004, queued)
    assert queued["execution_mode"] == "ASYNC"
    failed = _json(api.post("/v1/actions/order-fail/async", json={}), 201)
    wait_for(lambda: _json(api.get(f"/v1/runs/{failed['uid']}"), 200)["status"] == "FAILED" or None, 90, what="FAILED")

    # GET /v1/runs/{run_uid}: by the run's UID, with status, mode, timestamps and error.
    got = _json(api.get(f"/v1/runs/{failed['uid']}"), 200)
    _strict(RUN_004, got)
    assert got["uid"] == failed["uid"] and got["error"] and got["updated_at"]

    # The seed's two list examples: async runs that succeeded; the 20 most recent, newest first.
    wait_for(lambda: _json(api.get(f"/v1/runs/{queued['uid']}"), 200)["status"] == "SUCCEEDED" or None, 90)
    ok = _json(api.get("/v1/runs", params={"status": "SUCCEEDED", "execution_mode": "ASYNC"}), 200)
    assert [r["uid"] for r in ok["items"]] == [queued["uid"]]
    recent = _json(api.get("/v1/runs", params={"limit": 20, "sort": "-created_at"}), 200)
    created = [r["created_at"] for r in recent["items"]]
    assert created == sorted(created, reverse=True) and len(created) == 3
    assert _json(api.get("/v1/runs"), 200)["limit"] == 10  # the documented default
    for run in recent["items"]:
        _strict(RUN_004, run)
    by_filter = _json(api.get("/v1/runs", params={"action_name": "order-sync", "uid": live["uid"]}), 200)
    assert [r["uid"] for r in by_filter["items"]] == [live["uid"]]
    assert_problem(api.get("/v1/runs", params={"limit": 101}), 422, "query.limit")

    # POST /v1/runs/{run_uid}/resume reruns the failed run.
    resumed = _json(api.post(f"/v1/runs/{failed['uid']}/resume"), 201)
    _strict(RUN_004, resumed)
    assert resumed["uid"] != failed["uid"] and resumed["action_name"] == "order-fail"


# --- seed 000: /api/v1/integrations/executions (its own paths already) ------------------------------------------


def test_seed_000_executions_at_their_own_paths(api: Caller, kube: Kube, ns: str) -> None:
    kube.create(ns, builders.agent("erp-agent", 2))
    task = _json(api.post("/api/v1/tasks", json=task_body("erp", params=[{"name": "orderId", "type": "string"}])), 201)
    example = {
        "agent_id": "erp-agent",
        "task_id": task["id"],  # the task's UUID, as in the seed's example
        "params": {"orderId": "ORD-123"},
        "reference": "ORD-123",
        "metadata": {"source": "erp"},
        "priority": 10,
    }
    would = _json(api.post("/api/v1/integrations/executions", params={"validate_only": "true"}, json=example), 200)
    assert would["would_create"] is True
    key = {"Idempotency-Key": "ord-123-create"}
    first = _json(api.post("/api/v1/integrations/executions", json=example, headers=key), 201)
    assert first["status"] in ("pending", "queued", "running", "succeeded") and first["reference"] == "ORD-123"
    replay = _json(api.post("/api/v1/integrations/executions", json=example, headers=key), 200)
    assert (replay["id"], replay["idempotent_replay"]) == (first["id"], True)
    later = {**example, "scheduled_at": "2099-06-15T09:00:00+00:00", "version": "current"}
    scheduled = _json(api.post("/api/v1/integrations/executions", json=later), 201)
    assert scheduled["status"] == "pending"
    aborted = _json(api.post(f"/api/v1/integrations/executions/{scheduled['id']}/cancel"), 200)
    wait_for(
        lambda: (
            _json(api.get(f"/api/v1/integrations/executions/{scheduled['id']}"), 200)["status"] == "aborted" or None
        ),
        60,
        what="aborted",
    )
    assert aborted["id"] == scheduled["id"]


# What a strict client of each seed still meets differently, and why (docs/api.md, "drop-in routes").
DIFFERENCES = {
    "001": "created_by is any string (taskops records the caller's user name when it is not given), not only a UUID",
    "002": "exit_code (required in 002) is absent until the run ends",
    "004": "run ids (`uid`) are Kubernetes uids; the schedules list is GET /api/v1/schedules (issue 20, item 5)",
}
