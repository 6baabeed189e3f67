"""The REST API's Tasks endpoints (seed 001) and its authentication, on the real control plane."""

from __future__ import annotations

from devcluster.cluster import Cluster
from tests.integration.api import Caller, assert_problem, service_account, task_body
from tests.integration.kube import Kube, wait_for


def test_401_without_or_with_a_bad_token_403_without_rbac_2xx_with_it(api: Caller, cluster: Cluster, ns: str) -> None:
    anonymous = Caller(api.base, ns, None)
    assert_problem(anonymous.get("/api/v1/tasks"), 401)
    assert_problem(Caller(api.base, ns, "not-a-token").get("/api/v1/tasks"), 401)
    can_list = [{"apiGroups": ["taskops.dev"], "resources": ["tasks"], "verbs": ["list"]}]
    readonly = Caller(api.base, ns, service_account(cluster, ns, "reader", can_list))
    nobody = Caller(api.base, ns, service_account(cluster, ns, "nobody", None))
    problem = assert_problem(nobody.get("/api/v1/tasks"), 403)
    assert "cannot list tasks" in problem["detail"] and "nobody" in problem["detail"]
    assert readonly.get("/api/v1/tasks").status_code == 200
    assert_problem(readonly.post("/api/v1/tasks", json=task_body("t")), 403)
    assert api.post("/api/v1/tasks", json=task_body("t")).status_code == 201
    # Health and metrics need no token; the OpenAPI document does.
    assert anonymous.get("/healthz").status_code == 200
    metrics = anonymous.get("/metrics").text
    assert 'taskops_api_requests_total{method="GET",route="/api/v1/tasks",status="403"}' in metrics
    assert 'taskops_api_request_seconds_count{method="POST",route="/api/v1/tasks"}' in metrics
    assert_problem(anonymous.get("/api/v1/openapi.json"), 401)


def test_create_get_list_update_delete(api: Caller, kube: Kube, ns: str) -> None:
    created = api.post("/api/v1/tasks", json=task_body("nightly", schedule_kind="cron", schedule_expr="0 3 * * *"))
    assert created.status_code == 201, created.text
    task = created.json()
    assert (task["name"], task["object_name"], task["status"], task["priority"]) == ("nightly", "nightly", "active", 5)
    assert task["created_by"] == f"system:serviceaccount:{ns}:caller"
    # The CR is the truth: kubectl sees what the API wrote.
    cr = kube.get(ns, "tasks", "nightly")
    assert cr["spec"]["scheduleExpr"] == "0 3 * * *" and cr["spec"]["priority"] == 0
    assert api.get("/api/v1/tasks/nightly").json()["id"] == task["id"]
    assert api.get(f"/api/v1/tasks/{task['id']}").json()["name"] == "nightly"

    # Seed 001's 1 (highest) .. 9 scale maps onto the native priority.
    updated = api.put("/api/v1/tasks/nightly", json={"priority": 1, "max_retries": 7})
    assert updated.status_code == 200, updated.text
    assert (updated.json()["priority"], updated.json()["queue_priority"]) == (1, 1000)
    assert updated.json()["spec"]["max_retries"] == 7
    assert updated.json()["schedule_expr"] == "0 3 * * *"  # untouched fields stay
    # Each spec change is a new immutable version.
    wait_for(lambda: api.get("/api/v1/tasks/nightly").json()["version"] == 2, what="version 2")

    assert api.delete("/api/v1/tasks/nightly").status_code == 204
    assert_problem(api.get("/api/v1/tasks/nightly"), 404)


def test_seed_002_names_map_to_object_names_without_collisions(api: Caller, kube: Kube, ns: str) -> None:
    task = api.post("/api/v1/tasks", json=task_body("Billing:Export_v2")).json()
    assert task["name"] == "Billing:Export_v2"
    assert task["object_name"].startswith("billing-export-v2-") and len(task["object_name"]) <= 63
    assert kube.get(ns, "tasks", task["object_name"])["metadata"]["annotations"]["taskops.dev/name"] == task["name"]
    assert api.get("/api/v1/tasks/Billing:Export_v2").json()["id"] == task["id"]
    # A differently spelled name is a different task.
    assert_problem(api.get("/api/v1/tasks/billing:export_v2"), 404)
    assert api.post("/api/v1/tasks", json=task_body("billing:export_v2")).status_code == 201
    assert_problem(api.post("/api/v1/tasks", json=task_body("Billing:Export_v2")), 409)
    assert_problem(api.post("/api/v1/tasks", json=task_body("bad name!")), 422, "body.name")


def test_list_filters_and_pagination(api: Caller, ns: str) -> None:
    for i in range(5):
        kind = {"schedule_kind": "cron", "schedule_expr": "@daily"} if i % 2 else {"schedule_kind": "event"}
        assert api.post("/api/v1/tasks", json=task_body(f"t{i}", **kind)).status_code == 201
    api.post("/api/v1/tasks/t0/pause")
    api.post("/api/v1/tasks/t2/cancel")
    names = lambda resp: [t["name"] for t in resp.json()["items"]]  # noqa: E731
    assert names(api.get("/api/v1/tasks", params={"status": "paused"})) == ["t0"]
    assert names(api.get("/api/v1/tasks", params={"status": "canceled"})) == ["t2"]
    assert sorted(names(api.get("/api/v1/tasks", params={"schedule_kind": "cron"}))) == ["t1", "t3"]
    assert len(names(api.get("/api/v1/tasks", params={"created_by": f"system:serviceaccount:{ns}:caller"}))) == 5
    page = api.get("/api/v1/tasks", params={"limit": 2, "offset": 2}).json()
    assert (page["total"], page["limit"], page["offset"], len(page["items"])) == (5, 2, 2, 2)
    assert_problem(api.get("/api/v1/tasks", params={"status": "sleeping"}), 422, "query.status")
    assert_problem(api.get("/api/v1/tasks", params={"limit": "many"}), 422, "query.limit")


def test_lifecycle_actions(api: Caller, kube: Kube, ns: str) -> None:
    api.post("/api/v1/tasks", json=task_body("life", schedule_kind="cron", schedule_expr="*/5 * * * *"))
    assert api.post("/api/v1/tasks/life/pause").json()["status"] == "paused"
    assert kube.get(ns, "tasks", "life")["spec"]["state"] == "paused"
    assert api.post("/api/v1/tasks/life/resume").json()["status"] == "active"
    snoozed = api.post("/api/v1/tasks/life/snooze", json={"delay_seconds": 3600, "reason": "maintenance"})
    assert snoozed.status_code == 200, snoozed.text
    assert kube.get(ns, "tasks", "life")["spec"]["snooze"]["reason"] == "maintenance"
    wait_for(lambda: api.get("/api/v1/tasks/life").json()["snoozed_until"], what="snoozed_until in status")
    assert_problem(api.post("/api/v1/tasks/life/snooze", json={"delay_seconds": 8 * 86400}), 422, "body.delay_seconds")
    assert api.post("/api/v1/tasks/life/cancel").json()["status"] == "canceled"
    assert_problem(api.post("/api/v1/tasks/life/resume"), 409)
    # A canceled task runs no more.
    assert_problem(api.post("/api/v1/tasks/life/run_now"), 422, "path.task")


def test_bad_requests_get_clear_4xx(api: Caller) -> None:
    assert_problem(api.post("/api/v1/tasks", json=task_body("c", schedule_kind="cron", schedule_expr="61 * * * *")),
                   422, "body.schedule_expr")  # fmt: skip
    assert_problem(api.post("/api/v1/tasks", json=task_body("z", timezone="Mars/Olympus")), 422, "body.timezone")
    assert_problem(api.post("/api/v1/tasks", json=task_body("u", colour="red")), 422, "body.colour")
    assert_problem(api.post("/api/v1/tasks", json=task_body("m", max_retries="three")), 422, "body.max_retries")
    missing = {"title": "no payload", "description": "d"}
    assert_problem(api.post("/api/v1/tasks", json=missing), 422, "body.payload")
    assert_problem(api.post("/api/v1/tasks", data=b"{not json", headers={"Content-Type": "application/json"}), 400)
    assert_problem(api.post("/api/v1/tasks", json=[1, 2]), 422, "body")
    huge = b'{"title": "' + b"x" * (17 * 1024 * 1024) + b'"}'
    assert_problem(api.post("/api/v1/tasks", data=huge, headers={"Content-Type": "application/json"}), 413)
    assert_problem(api.get("/api/v1/nothing-here"), 404)
    assert_problem(api.delete("/api/v1/runs"), 405)
    assert_problem(api.get("/api/v1/tasks", params={"namespace": "Not_A_Namespace"}), 422, "query.namespace")


def test_openapi_document_and_docs_page(api: Caller) -> None:
    doc = api.get("/api/v1/openapi.json").json()
    assert doc["openapi"] == "3.1.0"
    for path in ("/api/v1/tasks/{id}/run", "/api/v1/integrations/executions", "/api/v1/runs", "/api/v1/events/{name}"):
        assert path in doc["paths"], path
    assert "x-kubernetes-rbac" in doc["paths"]["/api/v1/runs"]["get"]
    page = api.get("/api/v1/docs")
    assert page.status_code == 200 and "/api/v1/integrations/executions" in page.text


def test_an_invalid_result_schema_is_refused_on_create_and_on_update(api: Caller, kube: Kube, ns: str) -> None:
    # Never stored: the schema would fail every Run of the task at its end, after the work was done.
    refused = api.post("/api/v1/tasks", json=task_body("typo", result_schema={"type": "nonsense"}))
    assert "nonsense" in assert_problem(refused, 422, "body.result_schema")["errors"][0]["message"]
    assert kube.get(ns, "tasks", "typo") is None

    good = {"type": "object", "required": ["rows"]}
    assert api.post("/api/v1/tasks", json=task_body("checked", result_schema=good)).status_code == 201
    # An update is checked on the spec it would leave, and leaves the stored one as it was.
    regex = {"type": "object", "properties": {"id": {"type": "string", "pattern": "^(a+)+$"}}}
    problem = assert_problem(api.put("/api/v1/tasks/checked", json={"result_schema": regex}), 422, "body.result_schema")
    assert "pattern is not accepted" in problem["errors"][0]["message"], problem
    stored = kube.get(ns, "tasks", "checked")
    assert stored is not None and stored["spec"]["resultSchema"] == good, stored


def test_put_null_resets_a_defaulted_field_and_is_a_422_for_a_required_one(api: Caller) -> None:
    """Regression (issue 20): `{"max_retries": null}` and `{"payload": null}` answered 500.

    A null clears a field: one with a default takes its default again, an optional one is removed, and
    `payload`, which a Task cannot be without, is a 422 naming it (docs/api.md, "Tasks").
    """
    path = "/api/v1/tasks/nulls"
    created = api.post("/api/v1/tasks", json=task_body("nulls", max_retries=7, priority=2, concurrency_key="k"))
    assert created.status_code == 201, created.text
    resp = api.put(path, json={"max_retries": None, "priority": None, "concurrency_key": None})
    assert resp.status_code == 200, resp.text
    task = resp.json()
    assert task["spec"]["max_retries"] == 3 and task["priority"] == 5 and task["queue_priority"] == 0, task
    assert "concurrency_key" not in task["spec"], task
    assert_problem(api.put(path, json={"payload": None}), 422, "body.payload")
    assert api.get(path).json()["spec"]["payload"] == created.json()["spec"]["payload"]
    # Every field at once: a 422 or a 200, never a 5xx.
    for field in ("title", "description", "schedule_kind", "schedule_expr", "timezone", "backoff_strategy", "params"):
        status = api.put(path, json={field: None}).status_code
        assert status in (200, 422), (field, status)
