"""Issue 18 section 2: no schedule, body or schema a tenant writes stops the operator or the API.

Before the fix, one RRULE that never produces a date kept the operator's event loop inside dateutil
for minutes (no fires, no reconciles, no /healthz); a deeply nested body was a 500 with a traceback;
a resultSchema with an unknown `type` crashed every reconcile of the Task's Runs.
"""

from __future__ import annotations

import datetime as dt
import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from devcluster.cluster import Cluster
from tests import builders
from tests.integration.api import Caller
from tests.integration.kube import Kube, wait_for
from tests.integration.processes import OperatorProcess
from tests.integration.timing import parse_time

# kubectl-created (the API refuses them): each kept the old operator's loop busy for 8 s to hours per search.
HOSTILE = {
    "exrule-all": "DTSTART:20260101T000000\nRRULE:FREQ=SECONDLY\nEXRULE:FREQ=SECONDLY",
    "feb-31": "DTSTART:20260101T090000\nRRULE:FREQ=DAILY;BYMONTH=2;BYMONTHDAY=31",
    "feb-31-secondly": "DTSTART:20260101T090000\nRRULE:FREQ=SECONDLY;BYMONTH=2;BYMONTHDAY=31",
    "count-from-1900": "DTSTART:19000101T000000\nRRULE:FREQ=SECONDLY;COUNT=2000000000",
}
EVERY_TWO_SECONDS = "*/2 * * * * *"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def health_port(operator: OperatorProcess) -> Iterator[int]:
    """The session's operator, restarted to serve /healthz on a port of its own; restarted plain afterwards."""
    port = free_port()
    operator.stop()
    operator.start(f"--metrics-port={port}")
    wait_for(lambda: probe(port)[0] == 200, 30, what="/healthz")
    try:
        yield port
    finally:
        operator.stop()
        operator.start()


def probe(port: int) -> tuple[int, float]:
    """(status, seconds) of GET /healthz; status 0 when it did not answer within 2 s."""
    started = time.monotonic()
    try:
        status = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code
    except requests.RequestException:
        status = 0
    return status, time.monotonic() - started


def condition(task: dict[str, Any] | None, ctype: str) -> dict[str, Any] | None:
    conditions = ((task or {}).get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c["type"] == ctype), None)


def test_never_firing_rrules_do_not_stop_a_normal_task(cluster: Cluster, kube: Kube, health_port: int, ns: str) -> None:
    for name, expr in HOSTILE.items():
        kube.create(ns, builders.task(name, scheduleKind="rrule", scheduleExpr=expr))
    kube.create(ns, builders.task("normal", scheduleKind="cron", scheduleExpr=EVERY_TWO_SECONDS))
    watch_from = dt.datetime.now(dt.UTC)
    probes: list[tuple[int, float]] = []
    # 20 s, during which every hostile Task is rewritten (so re-parsed) every 2 s.
    deadline = time.monotonic() + 20
    rewrite = 0
    while time.monotonic() < deadline:
        probes.append(probe(health_port))
        if len(probes) % 4 == 0:
            rewrite += 1
            for name in HOSTILE:
                patch = {"spec": {"description": f"rewrite {rewrite}"}}
                cluster.kubectl("patch", "task", name, "-n", ns, "--type=merge", "-p", json.dumps(patch))
        time.sleep(0.5)

    failed = [p for p in probes if p[0] != 200]
    assert not failed, f"/healthz failed {len(failed)} of {len(probes)} times"
    assert max(seconds for _, seconds in probes) < 1.5, sorted(s for _, s in probes)[-5:]

    runs = [
        r
        for r in kube.runs(ns)
        if r["spec"]["taskRef"]["name"] == "normal" and parse_time(r["spec"]["scheduledTime"]) >= watch_from
    ]
    fire_times = sorted(parse_time(r["spec"]["scheduledTime"]) for r in runs)
    assert len(fire_times) >= 8, fire_times  # about ten fires in 20 s
    for run in runs:
        lag = parse_time(run["metadata"]["creationTimestamp"]) - parse_time(run["spec"]["scheduledTime"])
        # creationTimestamp has one-second resolution; a loaded machine gets one more.
        assert lag <= dt.timedelta(seconds=2), (run["metadata"]["name"], lag)
    normal = kube.get(ns, "tasks", "normal")
    assert (condition(normal, "ScheduleValid") or {}).get("status") == "True"

    for name in HOSTILE:
        cond = wait_for(
            lambda name=name: (c := condition(kube.get(ns, "tasks", name), "ScheduleValid")) and c, 20, what=name
        )
        assert cond["status"] == "False" and cond["reason"] == "InvalidSchedule", (name, cond)
        assert cond["message"].startswith("spec.scheduleExpr: "), cond
        assert "EXRULE" in cond["message"] if name == "exrule-all" else "search bound" in cond["message"], cond
        assert not [r for r in kube.runs(ns) if r["spec"]["taskRef"]["name"] == name], f"{name} fired"
        events = wait_for(lambda name=name: [e for e in kube.events_for(ns, name) if e.reason == "InvalidSchedule"])
        assert "spec.scheduleExpr" in events[0].message


def test_the_api_refuses_never_firing_schedules(api: Caller) -> None:
    payload = builders.task("x")["spec"]["payload"]
    for name, expr in HOSTILE.items():
        started = time.monotonic()
        resp = api.post(
            "/api/v1/tasks", json={"name": name, "payload": payload, "schedule_kind": "rrule", "schedule_expr": expr}
        )
        assert time.monotonic() - started < 5
        assert resp.status_code == 422, resp.text
        errors = resp.json()["errors"]
        assert [e["location"] for e in errors] == ["body.schedule_expr"], errors
    created = api.post(
        "/api/v1/tasks",
        json={"name": "ok", "payload": payload, "schedule_kind": "cron", "schedule_expr": "0 3 * * *"},
    )
    assert created.status_code == 201, created.text
    resp = api.put("/api/v1/tasks/ok", json={"schedule_kind": "rrule", "schedule_expr": HOSTILE["feb-31"]})
    assert resp.status_code == 422 and resp.json()["errors"][0]["location"] == "body.schedule_expr", resp.text
    # The API itself stayed responsive.
    assert api.get("/api/v1/tasks/ok").status_code == 200


def test_deeply_nested_bodies_are_422_naming_where(api: Caller) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    resp = api.post(
        "/api/v1/tasks",
        data=f'{{"name": "deep", "description": {deep}}}'.encode(),
        headers={"Content-Type": "application/json"},
    )
    assert resp.status_code == 422, resp.text
    assert resp.headers["Content-Type"].startswith("application/problem+json")
    assert "nested deeper than 64 levels" in resp.text and "Traceback" not in resp.text
    value: Any = "x"
    for _ in range(70):
        value = {"k": value}
    payload = builders.task("x")["spec"]["payload"]
    assert api.post("/api/v1/tasks", json={"name": "t", "payload": payload}).status_code == 201
    resp = api.post("/api/v1/tasks/t/run", json={"params": {"p": value}})
    assert resp.status_code == 422, resp.text
    assert resp.json()["errors"][0]["location"].startswith("body.params.p.k.k"), resp.text


def test_a_result_schema_is_checked_when_the_task_is_written(api: Caller, kube: Kube, ns: str) -> None:
    payload = builders.task("x")["spec"]["payload"]
    for schema, says in (
        ({"type": "nonsense"}, "nonsense"),
        ({"type": "string", "pattern": "^(a+)+$"}, "pattern is not accepted"),
    ):
        resp = api.post("/api/v1/tasks", json={"name": "s", "payload": payload, "result_schema": schema})
        assert resp.status_code == 422, resp.text
        errors = resp.json()["errors"]
        assert errors[0]["location"] == "body.result_schema" and says in errors[0]["message"], errors

    # kubectl does not ask the API: the Task says why, and its Runs end with the reason instead of a crashed reconcile.
    behaviour = builders.pod_behaviour(duration="200ms", message='{"rows": 1}')
    kube.create(ns, builders.task("typo", pod_annotations=behaviour, resultSchema={"type": "nonsense"}))
    cond = wait_for(lambda: condition(kube.get(ns, "tasks", "typo"), "ResultSchemaValid"), 20, what="a condition")
    assert cond["status"] == "False" and cond["message"].startswith("spec.resultSchema: "), cond
    kube.create(ns, builders.run("typo-1", "typo"))
    run = kube.wait_run_phase(ns, "typo-1", {"SUCCEEDED", "FAILED"}, timeout=60)
    assert run["status"]["phase"] == "FAILED", run["status"]
    result_cond = next(c for c in run["status"]["conditions"] if c["type"] == "ResultValid")
    assert "resultSchema is invalid" in result_cond["message"], result_cond
    events = wait_for(lambda: [e for e in kube.events_for(ns, "typo") if e.reason == "InvalidResultSchema"], 20)
    assert "spec.resultSchema" in events[0].message


def test_deeply_nested_values_written_with_kubectl(
    cluster: Cluster, kube: Kube, operator: OperatorProcess, ns: str
) -> None:
    # The API server keeps up to 10,000 levels; orjson reads 1,024 and Python's json about 1,000. Before the fix
    # this one Run made every page and watch event of Runs unreadable: no Run in any namespace was reconciled.
    deep = "[" * 1500 + '"x"' + "]" * 1500
    behaviour = builders.pod_behaviour(duration="200ms")
    kube.create(ns, builders.task("t", pod_annotations=behaviour))
    run = json.dumps(builders.run("deep", "t", params={"p": "DEEP"})).replace('"DEEP"', deep)
    cluster.kubectl("create", "-n", ns, "-f", "-", input=run)
    task = builders.task("deep-schema", pod_annotations=behaviour, resultSchema={"items": "DEEP"})
    cluster.kubectl("create", "-n", ns, "-f", "-", input=json.dumps(task).replace('"DEEP"', deep))
    kube.create(ns, builders.run("plain", "t"))
    assert kube.wait_run_phase(ns, "plain", {"SUCCEEDED"}, timeout=60)

    def deep_status() -> dict[str, Any] | None:
        # Python clients (the test's too) cannot decode the Run itself: kubectl reads its status.
        out = cluster.kubectl("get", "run", "deep", "-n", ns, "-o", "jsonpath={.status}", check=False)
        status = json.loads(out) if out.strip() else {}
        return status if status.get("phase") in ("SUCCEEDED", "FAILED", "INVALID") else None

    status = wait_for(deep_status, 60, what="the deep Run to end")
    assert status["phase"] == "INVALID", status
    assert "spec.params.p.0.0" in status["message"] and "nested deeper than 64 levels" in status["message"], status

    def deep_task_condition(ctype: str) -> dict[str, Any] | None:
        out = cluster.kubectl("get", "task", "deep-schema", "-n", ns, "-o", "jsonpath={.status}", check=False)
        return condition({"status": json.loads(out)} if out.strip() else None, ctype)

    cond = wait_for(lambda: deep_task_condition("ResultSchemaValid"), 30, what="ResultSchemaValid")
    assert cond["status"] == "False" and "nested deeper" in cond["message"], cond
    cond = wait_for(lambda: deep_task_condition("ScheduleValid"), 30, what="ScheduleValid")
    assert cond["status"] == "False" and cond["message"].startswith("spec.resultSchema.items.0.0"), cond
