"""Seed 000 on the real control plane: the Agents list (RBAC decides what it shows), executions listed with
filters in seed 000's words, agent_id and task_version_id given as uids, manual runs recorded as manual."""

from __future__ import annotations

from devcluster.cluster import Cluster
from tests import builders
from tests.integration.api import Caller, assert_problem, make_task, service_account
from tests.integration.kube import Kube, wait_for

ENDED = {"SUCCEEDED", "FAILED", "STOPPED", "INVALID", "PARTIAL_SUCCEEDED"}


def test_agents_are_listed_with_their_load_and_rbac_decides_what_a_caller_sees(
    api: Caller, kube: Kube, ns: str, cluster: Cluster
) -> None:
    kube.create(ns, builders.agent("gpu", 1, description="the GPU box"))
    kube.create(ns, builders.agent("cpu", 3, maxQueued=10))
    make_task(api, "long", pods=builders.pod_behaviour(duration="120s"), max_retries=0)
    first = api.post("/api/v1/integrations/executions", json={"task_id": "long", "agent_id": "gpu"}).json()
    second = api.post("/api/v1/integrations/executions", json={"task_id": "long", "agent_id": "gpu"}).json()

    # Capacity 1: one of the two runs (whichever admission took first) runs, the other waits for the agent.
    def gpu_loaded() -> dict[str, object] | None:
        items = api.get("/api/v1/agents").json()["items"]
        gpu = next(a for a in items if a["name"] == "gpu")
        return items if (gpu["running"], gpu["queued"]) == (1, 1) else None

    items = wait_for(gpu_loaded, what="the gpu agent's load")
    assert [a["name"] for a in items] == ["cpu", "gpu"]
    cpu, gpu = items
    assert (cpu["capacity"], cpu["max_queued"], cpu["running"], cpu["queued"]) == (3, 10, 0, 0)
    assert gpu["uid"] == kube.get(ns, "agents", "gpu")["metadata"]["uid"] and gpu["description"] == "the GPU box"

    # A caller that may list agents but use only cpu: the picker's list (usable=true) shows cpu alone.
    some = Caller(api.base, ns, service_account(cluster, ns, "some", [
        {"apiGroups": ["taskops.dev"], "resources": ["agents"], "verbs": ["list"]},
        {"apiGroups": ["taskops.dev"], "resources": ["agents"], "verbs": ["use"], "resourceNames": ["cpu"]},
    ]))  # fmt: skip
    assert [a["name"] for a in some.get("/api/v1/agents").json()["items"]] == ["cpu", "gpu"]
    usable = some.get("/api/v1/agents", params={"usable": "true"}).json()
    assert [a["name"] for a in usable["items"]] == ["cpu"] and usable["total"] == 1
    # Without list agents, like every list: 403.
    none = Caller(api.base, ns, service_account(cluster, ns, "none", []))
    assert_problem(none.get("/api/v1/agents"), 403)
    assert_problem(api.get("/api/v1/agents", params={"limit": "0"}), 422, "query.limit")
    for run in (first, second):
        api.post(f"/api/v1/integrations/executions/{run['id']}/cancel")


def test_uids_as_seed_000_sends_them_manual_runs_and_the_executions_list(api: Caller, kube: Kube, ns: str) -> None:
    kube.create(ns, builders.agent("a1", 5))
    task = make_task(api, "orders", params=[{"name": "orderId", "type": "string", "required": True}])
    agent_uid = kube.get(ns, "agents", "a1")["metadata"]["uid"]
    version = wait_for(lambda: api.get("/api/v1/tasks/orders/versions").json()["items"], what="version 1")[0]
    revision_uid = kube.apps.read_namespaced_controller_revision(version["id"], ns).metadata.uid

    # The seed's own example shape, with UUIDs for agent_id and task_version_id.
    by_uid = api.post("/api/v1/integrations/executions", json={
        "agent_id": agent_uid, "task_version_id": revision_uid, "params": {"orderId": "ORD-123"},
        "reference": "ORD-123", "metadata": {"source": "erp"}, "priority": 10,
    })  # fmt: skip
    assert by_uid.status_code == 201, by_uid.text
    api_run = by_uid.json()
    stored = kube.run(ns, api_run["id"])["spec"]
    assert (stored["agent"], stored["version"], stored["triggeredBy"]) == ("a1", version["id"], "api")
    assert api_run["agent_id"] == "a1" and api_run["status"] in ("pending", "queued", "running")
    # task_id by uid with a version of another task, an unknown agent uid: errors naming the field.
    assert_problem(
        api.post("/api/v1/integrations/executions", json={"agent_id": "00000000-0000-0000-0000-000000000001",
                                                           "task_id": task["id"]}),
        422,
        "body.agent_id",
    )  # fmt: skip
    assert_problem(
        api.post("/api/v1/integrations/executions", json={"task_version_id": "00000000-0000-0000-0000-000000000003"}),
        422,
        "body.task_version_id",
    )

    # A manual run (what the page sends): triggered_by manual; anything but api or manual is refused.
    manual = api.post("/api/v1/integrations/executions", json={
        "task_id": task["id"], "agent_id": "a1", "params": {"orderId": "ORD-9"}, "triggered_by": "manual",
    }).json()  # fmt: skip
    assert manual["triggered_by"] == "manual" and kube.run(ns, manual["id"])["spec"]["triggeredBy"] == "manual"
    bad = api.post("/api/v1/integrations/executions", json={"task_id": "orders", "triggered_by": "cron"})
    assert_problem(bad, 422, "body.triggered_by")
    for run in (api_run, manual):
        kube.wait_run_phase(ns, run["id"], ENDED)

    # The list, in seed 000's words, with its filters.
    listed = api.get("/api/v1/integrations/executions").json()
    assert listed["total"] == 2 and [e["id"] for e in listed["items"]] == [manual["id"], api_run["id"]]
    assert {e["status"] for e in listed["items"]} == {"succeeded"}
    assert listed["items"][0]["task_name"] == "orders" and listed["items"][0]["is_done"] is True

    def ids(**query: str) -> list[str]:
        resp = api.get("/api/v1/integrations/executions", params=query)
        assert resp.status_code == 200, resp.text
        return [e["id"] for e in resp.json()["items"]]

    assert ids(triggered_by="manual") == [manual["id"]]
    assert ids(reference="ORD-123") == [api_run["id"]]
    assert ids(agent_id=agent_uid) == ids(agent_id="a1") == [manual["id"], api_run["id"]]
    assert ids(task_id=task["id"], sort="created_at") == [api_run["id"], manual["id"]]
    assert ids(task_version_id=revision_uid, limit="1") == [manual["id"]]
    assert ids(status="succeeded", offset="1") == [api_run["id"]]
    assert ids(status="aborted") == [] and ids(agent_id="no-such-agent") == []
    assert_problem(api.get("/api/v1/integrations/executions", params={"status": "SUCCEEDED"}), 422, "query.status")
    assert_problem(api.get("/api/v1/integrations/executions", params={"sort": "name"}), 422, "query.sort")
