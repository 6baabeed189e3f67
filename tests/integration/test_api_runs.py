"""The REST API's run triggers (seeds 000, 002, 003, 004), waiting, idempotency, and the Runs API."""

from __future__ import annotations

import concurrent.futures
import time
from typing import Any

from tests import builders
from tests.integration.api import Caller, assert_problem, make_task
from tests.integration.kube import Kube, wait_for

PARAMS = [
    {"name": "order_id", "type": "string", "required": True},
    {"name": "limit", "type": "integer", "default": 10},
    {"name": "note", "type": "string", "default": "none"},
]


def test_seed_002_trigger_and_wait_returns_the_ended_run(api: Caller, kube: Kube, ns: str) -> None:
    make_task(api, "quick", params=PARAMS, max_retries=0)
    resp = api.post(
        "/api/v1/tasks/quick/run",
        params={"wait": "true", "wait_timeout": 60},
        json={"params": {"order_id": "A-1", "note": None, "limit": 3}},
    )
    assert resp.status_code == 200, resp.text
    run = resp.json()
    assert (run["status"], run["end_reason"], run["exit_code"]) == ("ended", "success", 0), run
    assert run["task_name"] == "quick" and run["triggered_by"] == "api" and run["retry_attempt"] == 0
    # null omitted the param, an absent key took its default; the API answer is the CR's truth.
    assert run["params"] == {"order_id": "A-1", "limit": "3"}
    assert kube.run(ns, run["id"])["status"]["phase"] == "SUCCEEDED"

    failing = make_task(api, "failing", pods=builders.pod_behaviour(exit_code=4), max_retries=0)
    ended = api.post(f"/api/v1/tasks/{failing['id']}/run", params={"wait": "true"}).json()
    assert (ended["status"], ended["end_reason"], ended["exit_code"]) == ("ended", "failed", 4)


def test_wait_timeout_returns_the_run_in_its_current_state(api: Caller, ns: str) -> None:
    make_task(api, "slow", pods=builders.pod_behaviour(duration="30s"))
    started = time.monotonic()
    resp = api.post("/api/v1/tasks/slow/run", params={"wait": "true", "wait_timeout": 2})
    assert resp.status_code == 200
    assert 1.9 <= time.monotonic() - started < 10
    # Seed 002 types end_reason without null: absent until the run ends.
    assert resp.json()["status"] in ("pending", "running") and "end_reason" not in resp.json()
    assert_problem(api.post("/api/v1/tasks/slow/run", params={"wait": "true", "wait_timeout": 0}), 422,
                   "query.wait_timeout")  # fmt: skip
    assert_problem(api.post("/api/v1/tasks/slow/run", params={"wait_timeout": 3601}), 422, "query.wait_timeout")


def test_seed_000_execution_with_params_errors_idempotency_and_cancel(api: Caller, kube: Kube, ns: str) -> None:
    task = make_task(api, "orders", pods=builders.pod_behaviour(duration="60s"), params=PARAMS)
    bad = api.post("/api/v1/integrations/executions", json={"task_id": task["id"], "params": {"limit": "ten", "x": 1}})
    problem = assert_problem(bad, 422, "body.params.order_id")
    locations = {e["location"] for e in problem["errors"]}
    assert {"body.params.limit", "body.params.x"} <= locations
    assert not kube.runs(ns), "a rejected request writes nothing"

    body = {"task_id": "orders", "params": {"order_id": "ORD-123"}, "reference": "ORD-123",
            "metadata": {"source": "erp"}, "callback_url": "https://example.com/hook", "priority": 10}  # fmt: skip
    key = {"Idempotency-Key": "ord-123-create"}
    first = api.post("/api/v1/integrations/executions", json=body, headers=key)
    assert first.status_code == 201, first.text
    execution = first.json()
    assert execution["idempotent_replay"] is False
    assert execution["status"] in ("pending", "queued", "running") and execution["reference"] == "ORD-123"
    again = api.post("/api/v1/integrations/executions", json=body, headers=key)
    assert again.status_code == 200 and again.json()["idempotent_replay"] is True
    assert again.json()["id"] == execution["id"]
    changed = api.post("/api/v1/integrations/executions", json={**body, "priority": 11}, headers=key)
    assert_problem(changed, 422, "header.Idempotency-Key")
    cr = kube.run(ns, execution["id"])
    assert cr["spec"]["metadata"] == {"source": "erp"} and cr["spec"]["callbackUrl"] == "https://example.com/hook"

    wait_for(lambda: api.get(f"/api/v1/integrations/executions/{execution['id']}").json()["status"] == "running")
    cancelled = api.post(f"/api/v1/integrations/executions/{execution['id']}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    stopped = kube.wait_run_phase(ns, execution["id"], {"STOPPED"})
    assert stopped["status"]["endReason"] == "stopped"
    assert api.get(f"/api/v1/integrations/executions/{execution['id']}").json()["status"] == "aborted"
    assert_problem(api.post(f"/api/v1/integrations/executions/{execution['id']}/cancel"), 409)


def test_concurrent_requests_with_one_key_make_one_run(api: Caller, kube: Kube, ns: str) -> None:
    make_task(api, "once")
    body = {"task_id": "once"}

    def call(_: int) -> Any:
        return api.post("/api/v1/integrations/executions", json=body, headers={"Idempotency-Key": "same"})

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(call, range(16)))
    assert {r.status_code for r in answers} <= {200, 201}
    assert len({r.json()["id"] for r in answers}) == 1
    assert sum(r.status_code == 201 for r in answers) == 1
    assert len(kube.runs(ns)) == 1


def test_validate_only_writes_nothing(api: Caller, kube: Kube, ns: str) -> None:
    make_task(api, "v", params=PARAMS)
    ok = api.post("/api/v1/tasks/v/run", params={"validate_only": "true"}, json={"params": {"order_id": "1"}})
    assert ok.status_code == 200, ok.text
    assert ok.json()["would_create"] is True and ok.json()["params"] == {"order_id": "1", "limit": 10, "note": "none"}
    bad = api.post("/api/v1/tasks/v/run", params={"validate_only": "true"}, json={"params": {}})
    assert_problem(bad, 422, "body.params.order_id")
    missing_agent = api.post(
        "/api/v1/integrations/executions", params={"validate_only": "true"},
        json={"task_id": "v", "agent_id": "nope", "params": {"order_id": "1"}},
    )  # fmt: skip
    assert_problem(missing_agent, 422, "body.agent_id")
    wrong_version = api.post(
        "/api/v1/integrations/executions", params={"validate_only": "true"},
        json={"task_id": "v", "version": "9", "params": {"order_id": "1"}},
    )  # fmt: skip
    assert_problem(wrong_version, 422, "body.version")
    # Regression (schemathesis, issue 20): a version id that is no object name was a 502 from the API server.
    not_a_name = api.post("/api/v1/integrations/executions", json={"task_version_id": "È%"})
    assert_problem(not_a_name, 422, "body.task_version_id")
    # Regression (schemathesis): a Task whose agent is no object name made run_now a 502 from the API server.
    make_task(api, "odd-agent", agent="Þ %x")
    odd = api.post("/api/v1/tasks/odd-agent/run_now", params={"validate_only": "true"}, json={})
    assert_problem(odd, 422, "body.agent_id")
    time.sleep(0.5)
    assert not kube.runs(ns)


def test_seed_003_overrides_and_wait_for_completion(api: Caller, kube: Kube, ns: str) -> None:
    result = '{"answer": 42}'
    make_task(
        api, "agent-task", pods=builders.pod_behaviour(message=result),
        overrides=[{"name": "prompt", "type": "string"}, {"name": "model", "type": "string"}],
    )  # fmt: skip
    resp = api.post(
        "/api/v1/tasks/agent-task/runs", json={"prompt": "say hi", "model": "m1", "wait_for_completion": True}
    )
    assert resp.status_code == 200, resp.text
    out = resp.json()
    assert (out["status"], out["is_done"], out["is_successful"], out["result"]) == (
        "success",
        True,
        True,
        {"answer": 42},
    )
    assert out["history"] and all(item["actions"] for item in out["history"])
    assert kube.run(ns, out["run_name"])["spec"]["overrides"] == {"prompt": "say hi", "model": "m1"}
    # provider is a built-in override (test_api_seed_bodies.py); an unknown value is not.
    assert_problem(api.post("/api/v1/tasks/agent-task/runs", json={"provider": "acme"}), 422, "body.provider")
    assert_problem(api.post("/api/v1/tasks/agent-task/runs", json={"prompt": "x"}), 422, "body.prompt")


def test_seed_004_actions_and_run_listing(api: Caller, kube: Kube, ns: str) -> None:
    make_task(api, "act", params=[{"name": "n", "type": "integer"}])
    live = api.post("/api/v1/actions/act/live", json={"input": {"n": 1}})
    assert live.status_code == 200 and live.json()["status"] == "SUCCEEDED", live.text
    assert live.json()["execution_mode"] == "LIVE"
    queued = api.post("/api/v1/actions/act/async", json={"inputs": [{"n": 2}]})
    assert queued.status_code == 201 and queued.json()["execution_mode"] == "ASYNC"
    later = "2099-01-01T00:00:00Z"
    scheduled = api.post("/api/v1/actions/act/schedule", json={"input": {"n": 3}, "scheduled_at": later})
    assert scheduled.status_code == 201, scheduled.text
    assert_problem(api.post("/api/v1/actions/act/schedule", json={"input": {"n": 3}}), 422, "body.scheduled_at")
    assert_problem(api.post("/api/v1/actions/act/sometime", json={}), 422, "path.mode")
    assert_problem(api.post("/api/v1/actions/act/async", json={"input": {"n": "x"}}), 422, "body.input.n")
    wait_for(
        lambda: (kube.run(ns, scheduled.json()["id"]).get("status") or {}).get("phase") == "SCHEDULED", what="SCHEDULED"
    )
    kube.wait_run_phase(ns, queued.json()["id"], {"SUCCEEDED"})

    def ids(**params: Any) -> list[str]:
        resp = api.get("/api/v1/runs", params=params)
        assert resp.status_code == 200, resp.text
        return [r["id"] for r in resp.json()["items"]]

    every = ids(sort="created_at")
    assert every == [live.json()["id"], queued.json()["id"], scheduled.json()["id"]]
    assert ids(sort="-created_at") == every[::-1]
    assert ids(status="SUCCEEDED", sort="created_at") == every[:2]
    assert ids(execution_mode="LIVE") == every[:1]
    assert ids(action_name="act", limit=1, offset=1, sort="created_at") == every[1:2]
    assert ids(uid=live.json()["uid"]) == every[:1]
    assert len(ids(user_uid=f"system:serviceaccount:{ns}:caller")) == 3
    assert ids(status="SCHEDULED", sort="status") == every[2:]
    assert len(ids(sort="updated_at")) == 3
    assert_problem(api.get("/api/v1/runs", params={"sort": "colour"}), 422, "query.sort")
    assert_problem(api.get("/api/v1/runs", params={"limit": 101}), 422, "query.limit")
    assert_problem(api.get("/api/v1/runs", params={"status": "DONE"}), 422, "query.status")
    got = api.get(f"/api/v1/runs/{live.json()['uid']}").json()
    assert got["id"] == every[0] and got["status"] == "SUCCEEDED"
    assert_problem(api.get("/api/v1/runs/no-such-run"), 404)


def test_cancel_and_resume(api: Caller, kube: Kube, ns: str) -> None:
    make_task(api, "long", pods=builders.pod_behaviour(duration="120s"), params=[{"name": "p", "type": "string"}])
    run = api.post("/api/v1/tasks/long/run_now", json={"params": {"p": "v"}}).json()
    assert run["status"] in ("CREATED", "QUEUED", "RUNNING")
    assert api.post(f"/api/v1/runs/{run['id']}/cancel").status_code == 200
    kube.wait_run_phase(ns, run["id"], {"STOPPED"})
    assert_problem(api.post(f"/api/v1/runs/{run['id']}/cancel"), 409)
    resumed = api.post(f"/api/v1/runs/{run['id']}/resume")
    assert resumed.status_code == 201, resumed.text
    new = resumed.json()
    assert new["id"] != run["id"] and new["triggered_by"] == "resume"
    assert kube.run(ns, new["id"])["spec"]["params"] == {"p": "v"}
    # Resuming again returns the same resumed run; a running run cannot be resumed.
    again = api.post(f"/api/v1/runs/{run['id']}/resume")
    assert again.status_code == 200 and again.json()["id"] == new["id"] and again.json()["idempotent_replay"]
    kube.wait_run_phase(ns, new["id"], {"RUNNING"})
    assert_problem(api.post(f"/api/v1/runs/{new['id']}/resume"), 409)

    # Logs come from the current attempt's pod (kwok serves devcluster/logs.yaml's lines as the kubelet would).
    logs = wait_for(lambda: (r := api.get(f"/api/v1/runs/{new['id']}/logs")).status_code == 200 and r, what="logs")
    assert logs.headers["Content-Type"].startswith("text/plain")
    assert "taskops fake pod: working" in logs.text
    with api.get(f"/api/v1/runs/{new['id']}/logs", params={"follow": "true"}, stream=True) as followed:
        assert followed.status_code == 200
        assert b"taskops fake pod" in next(followed.iter_content(chunk_size=None))
    # A run without a pod (its Job was deleted when it stopped) gets a clear 409.
    assert_problem(api.get(f"/api/v1/runs/{run['id']}/logs"), 409)


def test_events_fire_each_listening_task_once_per_event_id(api: Caller, kube: Kube, ns: str) -> None:
    make_task(api, "on-deploy-a", schedule_kind="event", schedule_expr="deployed")
    make_task(api, "on-deploy-b", schedule_kind="event", schedule_expr="deployed")
    make_task(api, "other", schedule_kind="event", schedule_expr="other")
    first = api.post("/api/v1/events/deployed", json={"id": "release-7"})
    assert first.status_code == 202, first.text
    assert sorted(r["task_name"] for r in first.json()["runs"]) == ["on-deploy-a", "on-deploy-b"]
    second = api.post("/api/v1/events/deployed", json={"id": "release-7"})
    assert sorted(r["id"] for r in second.json()["runs"]) == sorted(r["id"] for r in first.json()["runs"])
    assert len(kube.runs(ns)) == 2
    assert all(r["spec"]["triggeredBy"] == "event" for r in kube.runs(ns))
    assert api.post("/api/v1/events/nobody-listens").json()["runs"] == []
