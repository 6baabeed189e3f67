"""The API's pure parts: name mapping, trigger validation and building, views (the OpenAPI document: test_openapi)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from taskops.api import schemas, views
from taskops.api.triggers import Trigger, build_run, check, request_hash, resume_of
from taskops.domain import apinames
from taskops.domain.models import Task
from tests import builders

NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)
API_NAMES = st.from_regex(r"\A[a-zA-Z0-9._:-]{1,100}\Z")


@given(API_NAMES)
def test_every_api_name_maps_to_a_valid_object_name(name: str) -> None:
    object_name = apinames.task_object_name(name)
    assert apinames.is_object_name(object_name), object_name
    assert apinames.task_object_name(name) == object_name
    if apinames.is_object_name(name):
        assert object_name == name


@given(API_NAMES, API_NAMES)
def test_different_names_that_need_mapping_get_different_objects(a: str, b: str) -> None:
    if a != b and not apinames.is_object_name(a) and not apinames.is_object_name(b):
        assert apinames.task_object_name(a) != apinames.task_object_name(b)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("nightly", "nightly"),
        ("a.b-c", "a.b-c"),
        ("Billing:Export_v2", re.compile(r"^billing-export-v2-[0-9a-f]{10}$")),
        ("___", re.compile(r"^t-[0-9a-f]{10}$")),
        ("x" * 64, re.compile(r"^x{40}-[0-9a-f]{10}$")),
    ],
)
def test_name_mapping_table(name: str, expected: str | re.Pattern[str]) -> None:
    got = apinames.task_object_name(name)
    assert got == expected if isinstance(expected, str) else expected.match(got), got


def test_run_names_fit_in_a_label_value() -> None:
    long = "t" * 63
    for name in (
        apinames.event_run_name(long, "e", "1"),
        apinames.resume_run_name(long),
        apinames.run_name_prefix(long) + "abcde",
        apinames.idempotent_run_name("ns", "user", "k" * 300),
    ):
        assert len(name) <= 63 and apinames.is_object_name(name), name
    assert apinames.idempotent_run_name("ns", "a", "k") != apinames.idempotent_run_name("ns", "b", "k")
    assert apinames.event_run_name("t", "e", "1") != apinames.event_run_name("t", "e", "2")


def _task(**spec: Any) -> Task:
    return Task.model_validate(builders.task("orders", metadata={"namespace": "ns", "uid": "uid-1"}, **spec))


PARAMS = [{"name": "order_id", "required": True}, {"name": "limit", "type": "integer", "default": 10}]


def test_check_reports_every_problem_with_its_location() -> None:
    task = _task(params=PARAMS, state="canceled")
    got = check(Trigger(task, params={"limit": "x", "colour": 1}, version="7"), [], NOW)
    locations = sorted(e.location for e in got.errors)
    assert locations == [
        "body.params.colour",
        "body.params.limit",
        "body.params.order_id",
        "body.version",
        "path.task",
    ]


def test_check_resolves_defaults_and_nulls() -> None:
    got = check(Trigger(_task(params=PARAMS), params={"order_id": "A", "limit": None}), [], NOW)
    assert got.errors == [] and got.params == {"order_id": "A"}


def test_build_run_carries_every_field_and_the_owner() -> None:
    trigger = Trigger(
        _task(),
        params={"a": 1},
        reference="ref",
        metadata={"source": "erp"},
        callback_url="https://x/hook",
        priority=10,
        agent="gpu",
        scheduled_at=NOW,
        execution_mode="ASYNC",
        user="alice",
    )
    run = build_run(trigger, NOW)
    assert run["metadata"]["generateName"] == "orders-"
    assert run["metadata"]["ownerReferences"][0]["uid"] == "uid-1"
    assert run["metadata"]["annotations"][apinames.ANNOTATION_CREATED_AT] == NOW.isoformat()
    assert run["spec"] == {
        "taskRef": {"name": "orders"},
        "triggeredBy": "api",
        "params": {"a": 1},
        "reference": "ref",
        "metadata": {"source": "erp"},
        "callbackUrl": "https://x/hook",
        "priority": 10,
        "agent": "gpu",
        "scheduledAt": "2026-11-25T12:00:00Z",
        "executionMode": "ASYNC",
        "user": "alice",
    }
    assert build_run(trigger, NOW, "fixed")["metadata"]["name"] == "fixed"


def test_request_hash_ignores_key_order_but_not_values() -> None:
    assert request_hash("k", "t", {"a": 1, "b": 2}) == request_hash("k", "t", {"b": 2, "a": 1})
    assert request_hash("k", "t", {"a": 1}) != request_hash("k", "t", {"a": 2})
    assert request_hash("k", "t", {"a": 1}) != request_hash("other", "t", {"a": 1})


def _run(phase: str = "SUCCEEDED", reason: str | None = "success", **status: Any) -> dict[str, Any]:
    meta = {
        "namespace": "ns",
        "uid": "run-uid",
        "creationTimestamp": "2026-11-25T12:00:00Z",
        "ownerReferences": [builders.owner("Task", "orders", "task-uid")],
        "managedFields": [{"time": "2026-11-25T12:00:05Z"}, {"time": "2026-11-25T12:00:09Z"}],
    }
    status = {"phase": phase, "endReason": reason, "exitCode": 0, "attempt": 2, "params": {"n": 1}, **status}
    run = builders.run("r1", "orders", metadata=meta, status=status, params={"n": 1}, triggeredBy="api", user="alice")
    return views.slim(run)


def test_one_status_in_each_seed_vocabulary() -> None:
    run = _run(history=[{"time": "2026-11-25T12:00:01Z", "step": "ended", "message": "done"}], result={"x": 1})
    out = views.run_out(run)
    assert (out.status, out.is_done, out.is_successful, out.retry_attempt, out.task_id) == (
        "SUCCEEDED",
        True,
        True,
        1,
        "task-uid",
    )
    assert out.updated_at == dt.datetime(2026, 11, 25, 12, 0, 9, tzinfo=dt.UTC)
    assert views.execution(run).status == "succeeded"
    assert (views.run002(run).status, views.run002(run).end_reason, views.run002(run).params) == (
        "ended",
        "success",
        {"n": "1"},
    )
    seed3 = views.task_run003(run)
    assert (seed3.status, seed3.result, seed3.history[0].actions[0].success) == ("success", {"x": 1}, True)  # type: ignore[index]
    stopped = _run("STOPPED", "stopped")
    assert views.execution(stopped).status == "aborted"
    assert views.run_out(stopped).error is None or views.run_out(stopped).is_successful is False
    queued = _run("BLOCKED", None)
    assert (views.execution(queued).status, views.run002(queued).status) == ("queued", "pending")
    assert views.task_run003(queued).status == "in_progress"


def test_resume_pins_the_version_the_run_ran() -> None:
    run = _run("FAILED", "failed", version={"number": 3, "id": "orders-v3"})
    resumed = resume_of(run, _task(), "bob", NOW)
    assert resumed["spec"]["version"] == "orders-v3" and resumed["spec"]["triggeredBy"] == "resume"
    assert resumed["metadata"]["name"] == apinames.resume_run_name("r1")


@pytest.mark.parametrize(
    ("native", "p"),
    # The scale's own points, values between them (nearest point), and values beyond its ends (clamped).
    [(1000, 1), (750, 2), (500, 3), (250, 4), (0, 5), (-250, 6), (-500, 7), (-750, 8), (-1000, 9),
     (100, 5), (130, 4), (-130, 6), (5000, 1), (-5000, 9)],
)  # fmt: skip
def test_seed_001_priority_of_a_native_priority(native: int, p: int) -> None:
    assert views.priority_001(native) == p


def test_task_bodies_refuse_unknown_fields_and_updates_are_partial() -> None:
    with pytest.raises(ValidationError, match="colour"):
        schemas.TaskCreate.model_validate({"payload": {"spec": {}}, "colour": "red"})
    assert schemas.TaskUpdate.model_validate({"max_retries": 1}).model_dump(exclude_unset=True) == {"max_retries": 1}
    with pytest.raises(ValidationError):
        schemas.TaskUpdate.model_validate({"max_retries": -1})


def test_select_runs_filters_and_sorts() -> None:
    a = views.run_out(_run("SUCCEEDED", "success"))
    b = views.run_out(_run("RUNNING", None)).model_copy(update={"id": "r2", "execution_mode": "LIVE"})
    assert [r.id for r in views.select_runs([a, b], {"status": "running"}, "-created_at")] == ["r2"]
    assert [r.id for r in views.select_runs([a, b], {"execution_mode": "live"}, "status")] == ["r2"]
    assert [r.id for r in views.select_runs([b, a], {}, "status")] == ["r2", "r1"]
    assert [r.id for r in views.select_runs([a, b], {}, "-status")] == ["r1", "r2"]


def test_events_fire_only_active_tasks_listening_to_them() -> None:
    from taskops.api.triggers import listens

    def task(**spec: Any) -> dict[str, Any]:
        return builders.task("t", scheduleKind="event", **spec)

    assert listens(task(scheduleExpr="deployed"), "deployed")
    assert listens(task(), "t"), "an empty expression names the task itself"
    assert not listens(task(scheduleExpr="deployed", state="paused"), "deployed")
    assert not listens(task(scheduleExpr="other"), "deployed")
    assert not listens(builders.task("t", scheduleKind="cron"), "t")
