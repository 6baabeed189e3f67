"""The API's triggers (api/trigger_build.py): checks naming every location, the Run they build, resume, events."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from taskops.api import views
from taskops.api.trigger_build import Trigger, build_run, check, request_hash, resume_of
from taskops.domain.resources import apinames
from taskops.domain.resources.task import Task
from tests import builders

NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)


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
    version = next(e for e in got.errors if e.location == "body.version")
    assert version.message == 'version "7" of task "orders" does not exist (it has no version yet)'


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
    assert run["metadata"]["annotations"][apinames.ANNOTATION_CREATED_AT] == "2026-11-25T12:00:00Z"
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


def test_resume_pins_the_version_the_run_ran() -> None:
    status = {"phase": "FAILED", "endReason": "failed", "version": {"number": 3, "id": "orders-v3"}}
    run = views.slim(builders.run("r1", "orders", metadata={"namespace": "ns", "uid": "run-uid"}, status=status))
    resumed = resume_of(run, _task(), "bob", NOW)
    assert resumed["spec"]["version"] == "orders-v3" and resumed["spec"]["triggeredBy"] == "resume"
    assert resumed["metadata"]["name"] == apinames.resume_run_name("r1")


def test_events_fire_only_active_tasks_listening_to_them() -> None:
    from taskops.api.trigger_build import listens

    def task(**spec: Any) -> dict[str, Any]:
        return builders.task("t", scheduleKind="event", **spec)

    assert listens(task(scheduleExpr="deployed"), "deployed")
    assert listens(task(), "t"), "an empty expression names the task itself"
    assert not listens(task(scheduleExpr="deployed", state="paused"), "deployed")
    assert not listens(task(scheduleExpr="other"), "deployed")
    assert not listens(builders.task("t", scheduleKind="cron"), "t")


@pytest.mark.parametrize(
    ("url", "location", "ok"),
    [("https://hooks.example.com/x", "body.callback_url", True), ("ftp://h/x", "body.callback_url", False),
     ("http://h:0/", "body.webhook_url", False), ("hooks.example.com/x", "body.webhook_url", False)],
)  # fmt: skip
def test_the_api_names_the_field_of_a_bad_callback_url(url: str, location: str, ok: bool) -> None:
    trigger = Trigger(_task(), callback_url=url, callback_location=location)
    errors = check(trigger, [], NOW).errors
    assert [e.location for e in errors] == ([] if ok else [location])
