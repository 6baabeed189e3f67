"""Seed bodies that do something: 003's built-in overrides, 004's CRON schedules and batch inputs validated
like params, and queue_full answered in the request when the queue is already full."""

from __future__ import annotations

import json

from tests import builders
from tests.integration.api import Caller, assert_problem, make_task
from tests.integration.kube import Kube, wait_for


def _phase(kube: Kube, ns: str, name: str) -> str | None:
    return (kube.run(ns, name).get("status") or {}).get("phase")


def test_a_full_queue_is_refused_in_the_request(api: Caller, kube: Kube, ns: str) -> None:
    make_task(
        api, "db", pods=builders.pod_behaviour(duration="60s"), max_retries=0,
        concurrency_key="db", concurrency_limit=1, max_queued=1,
    )  # fmt: skip
    first = api.post("/api/v1/tasks/db/run").json()["id"]
    wait_for(lambda: _phase(kube, ns, first) == "RUNNING", 30, what="the key to be held")
    second = api.post("/api/v1/tasks/db/run").json()["id"]
    wait_for(lambda: _phase(kube, ns, second) in ("QUEUED", "BLOCKED"), 30, what="one run waiting")
    # The API's own view of the Runs must have caught up with the operator's status writes.
    wait_for(
        lambda: api.post("/api/v1/tasks/db/run", params={"validate_only": "true"}).status_code == 409,
        10,
        what="the API to see the queue full",
    )
    before = len(kube.runs(ns))
    full = assert_problem(api.post("/api/v1/tasks/db/run"), 409, "task.concurrency_key")
    assert full["type"].endswith("/queue-full") and full["detail"].startswith("queue_full:"), full
    assert len(kube.runs(ns)) == before, "a refused request writes nothing"
    # Seed 000's route says the same; a higher priority would overtake the waiting run: the operator decides.
    assert_problem(api.post("/api/v1/integrations/executions", json={"task_id": "db"}), 409)
    higher = api.post("/api/v1/integrations/executions", json={"task_id": "db", "priority": 10})
    assert higher.status_code == 201, higher.text


SCHEMA = {"type": "object", "required": ["n"], "properties": {"n": {"type": "integer"}}}


def test_seed_003_overrides_reach_the_pod_and_decide_the_result(api: Caller, kube: Kube, ns: str) -> None:
    # No overrides declared: the six built-ins are accepted all the same.
    make_task(api, "agent", pods=builders.pod_behaviour(message='{"n": 1}'), max_retries=0)
    body = {
        "prompt": "say hi",
        "model": "m1",
        "provider": "anthropic",
        "response_format": "json",
        "json_schema": '{"type": "object", "required": ["n"]}',
        "use_cached_workflow": False,
        "wait_for_completion": True,
    }
    done = api.post("/api/v1/tasks/agent/runs", json=body)
    assert done.status_code == 200, done.text
    assert (done.json()["status"], done.json()["result"]) == ("success", {"n": 1}), done.json()
    job = next(j for j in kube.jobs(ns) if (j.metadata.labels or {}).get("taskops.dev/run") == done.json()["run_name"])
    container = job.spec.template.spec.containers[0]
    env = {e.name: e.value for e in container.env}
    assert env["TASKOPS_OVERRIDE_PROMPT"] == "say hi" and env["TASKOPS_OVERRIDE_PROVIDER"] == "anthropic"
    assert env["TASKOPS_OVERRIDE_USE_CACHED_WORKFLOW"] == "false"
    params_file = json.loads(job.spec.template.metadata.annotations["taskops.dev/params"])
    assert params_file["overrides"]["json_schema"] == {"type": "object", "required": ["n"]}

    # text: the raw termination message; a json_schema the result breaks fails the run.
    text = api.post("/api/v1/tasks/agent/runs", json={"response_format": "text", "wait_for_completion": True})
    assert (text.json()["status"], text.json()["result"]) == ("success", '{"n": 1}'), text.json()
    strict = {"json_schema": {"type": "object", "required": ["m"]}, "wait_for_completion": True}
    failed = api.post("/api/v1/tasks/agent/runs", json=strict).json()
    assert failed["status"] == "failure" and failed["is_successful"] is False, failed
    run = kube.run(ns, failed["run_name"])
    assert any(c["type"] == "ResultValid" and c["status"] == "False" for c in run["status"]["conditions"]), run

    # json: a message that is not JSON fails; a json_schema that is no schema is refused before any run exists.
    make_task(api, "prose", pods=builders.pod_behaviour(message="hello"), max_retries=0)
    prose = api.post("/api/v1/tasks/prose/runs", json={"response_format": "json", "wait_for_completion": True})
    assert prose.json()["status"] == "failure", prose.json()
    before = len(kube.runs(ns))
    assert_problem(api.post("/api/v1/tasks/prose/runs", json={"json_schema": "{nope"}), 422, "body.json_schema")
    assert_problem(
        api.post("/api/v1/tasks/prose/runs", json={"json_schema": {"pattern": "a.*b"}}), 422, "body.json_schema"
    )
    # A Task may restrict a built-in: enum [] forbids it.
    make_task(api, "fixed", overrides=[{"name": "model", "type": "string", "enum": []}])
    assert_problem(api.post("/api/v1/tasks/fixed/runs", json={"model": "m2"}), 422, "body.model")
    assert len(kube.runs(ns)) == before


def test_each_batch_input_is_validated_like_a_live_input(api: Caller, kube: Kube, ns: str) -> None:
    params = [{"name": "orderId", "type": "string", "required": True}, {"name": "qty", "type": "integer", "default": 1}]
    make_task(api, "orders", params=params)
    inputs: list[object] = [{"orderId": f"O-{i}"} for i in range(30)]
    ok = api.post("/api/v1/actions/orders/async", json={"inputs": inputs})
    assert ok.status_code == 201, ok.text
    # Each chunk line is the input's params resolved as a live run's (the default filled in).
    chunk = kube.run(ns, ok.json()["id"])["spec"]["inputs"]["configMaps"][0]
    lines = kube.core.read_namespaced_config_map(chunk, ns).data["inputs.jsonl"].splitlines()
    assert json.loads(lines[3]) == {"orderId": "O-3", "qty": 1}
    inputs[17] = {"qty": "many"}
    inputs[29] = {"orderId": "O-29", "colour": "red"}
    bad = assert_problem(api.post("/api/v1/actions/orders/async", json={"inputs": inputs}), 422)
    assert [e["location"] for e in bad["errors"]] == [
        "body.inputs[17].orderId",
        "body.inputs[17].qty",
        "body.inputs[29].colour",
    ]
    kube.wait_run_phase(ns, ok.json()["id"], {"SUCCEEDED"}, timeout=90)


def test_seed_004_cron_schedules_of_an_action(api: Caller, kube: Kube, ns: str) -> None:
    make_task(api, "act", params=[{"name": "n", "type": "integer", "required": True}], max_retries=0)
    every_second = "* * * * * *"
    made = api.post(
        "/api/v1/actions/act/schedule", json={"input": {"n": 1}, "cron": every_second, "timezone": "Europe/Paris"}
    )
    assert made.status_code == 201, made.text
    sched = made.json()
    assert (sched["action_name"], sched["cron"], sched["timezone"], sched["status"]) == (
        "act",
        every_second,
        "Europe/Paris",
        "active",
    )
    assert sched["input"] == {"n": 1}

    def fired(schedule: str) -> dict[str, object] | None:
        for run in kube.runs(ns):
            spec, status = run["spec"], run.get("status") or {}
            if spec["taskRef"]["name"] == schedule and status.get("phase") == "SUCCEEDED":
                return run
        return None

    run = wait_for(lambda: fired(sched["id"]), 60, what="a fire of the schedule to succeed")
    assert run["spec"]["executionMode"] == "SCHEDULE" and run["status"]["params"] == {"n": 1}, run
    listed = api.get("/api/v1/schedules", params={"action_name": "act"}).json()
    assert [s["id"] for s in listed["items"]] == [sched["id"]] and listed["total"] == 1
    seen = api.get("/api/v1/runs", params={"execution_mode": "SCHEDULE", "action_name": "act"}).json()["items"]
    assert run["metadata"]["name"] in [r["id"] for r in seen], "a fire is a run of the action"
    assert all(r["execution_mode"] == "SCHEDULE" and r["task_name"] == sched["id"] for r in seen)

    # A batch every fire: each input validated like a live one; each fire a batch run over the same chunks.
    bad = {"inputs": [{"n": 1}, {"n": "two"}], "cron": every_second}
    assert_problem(api.post("/api/v1/actions/act/schedule", json=bad), 422, "body.inputs[1].n")
    batch = api.post(
        "/api/v1/actions/act/schedule", json={"inputs": [{"n": i} for i in range(3)], "cron": every_second}
    )
    assert batch.status_code == 201 and batch.json()["inputs_count"] == 3, batch.text
    batch_run = wait_for(lambda: fired(batch.json()["id"]), 60, what="a batch fire to succeed")
    assert batch_run["spec"]["inputs"]["count"] == 3 and batch_run["status"]["batch"]["succeeded"] == 3

    assert api.post(f"/api/v1/schedules/{sched['id']}/pause").json()["status"] == "paused"
    assert api.get(f"/api/v1/schedules/{sched['id']}").json()["status"] == "paused"
    assert api.post(f"/api/v1/schedules/{sched['id']}/resume").json()["status"] == "active"
    for body, where in (
        ({"input": {"n": 1}, "cron": "61 * * * *"}, "body.cron"),
        ({"input": {"n": 1}, "cron": "@daily", "timezone": "Mars/Olympus"}, "body.timezone"),
        ({"input": {}, "cron": "@daily"}, "body.input.n"),
        ({"input": {"n": 1}, "cron": "@daily", "scheduled_at": "2099-01-01T00:00:00Z"}, "body.scheduled_at"),
    ):
        assert_problem(api.post("/api/v1/actions/act/schedule", json=body), 422, where)
    assert_problem(api.post("/api/v1/actions/act/async", json={"input": {"n": 1}, "cron": "@daily"}), 422, "body.cron")
    # An Idempotency-Key names the schedule: a replay answers it again, another body under the key is a 422.
    once = {"input": {"n": 5}, "cron": "@daily"}
    key = {"Idempotency-Key": "nightly-5"}
    first = api.post("/api/v1/actions/act/schedule", json=once, headers=key)
    again = api.post("/api/v1/actions/act/schedule", json=once, headers=key)
    assert (first.status_code, again.status_code, again.json()["id"]) == (201, 200, first.json()["id"]), again.text
    other = api.post("/api/v1/actions/act/schedule", json={**once, "input": {"n": 6}}, headers=key)
    assert_problem(other, 422, "header.Idempotency-Key")
    for s in (sched["id"], batch.json()["id"], first.json()["id"]):
        assert api.delete(f"/api/v1/schedules/{s}").status_code == 204
    assert_problem(api.get(f"/api/v1/schedules/{sched['id']}"), 404)
    assert_problem(api.get("/api/v1/schedules/act"), 404)
