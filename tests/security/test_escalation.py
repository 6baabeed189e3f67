"""Section 1 of docs/security.md: a Task, Agent or Run is no way to run a pod its author could not.

Each attack is made twice where both doors exist: with kubectl (the admission policies of
crds/policies/ judge the requesting user) and through the REST API (which checks its caller with
SubjectAccessReviews before it writes). The identities are real service accounts with real RBAC.
"""

from __future__ import annotations

import json
import subprocess
import time
from typing import Any

import pytest
import yaml

from devcluster import build
from devcluster.cluster import Cluster
from tests import builders
from tests.integration.api import ALL_VERBS, Caller, assert_problem, service_account
from tests.integration.identities import kubeconfig_for
from tests.integration.kube import Kube, wait_for
from tests.paths import REPO

TASKS_RUNS = {"apiGroups": ["taskops.dev"], "resources": ["tasks", "runs"], "verbs": ALL_VERBS}
CREATE_JOBS = {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create"]}
READ_AGENTS = {"apiGroups": ["taskops.dev"], "resources": ["agents"], "verbs": ["get", "list", "create", "patch"]}
ROBOT = "robot"  # the service account an attacker wants their pods to run as


class User:
    """One service account, reachable both ways: kubectl with its token, and the REST API."""

    def __init__(self, cluster: Cluster, api: Caller, ns: str, name: str, rules: list[dict[str, Any]]) -> None:
        self.cluster, self.ns, self.name = cluster, ns, name
        self.api = Caller(api.base, ns, service_account(cluster, ns, name, rules))
        self.kubeconfig = kubeconfig_for(cluster, name, ns, cluster.workdir / f"{ns}-{name}.kubeconfig")

    def kubectl(self, *args: str, obj: dict[str, Any] | None = None) -> subprocess.CompletedProcess[str]:
        cmd = [str(build.binary("kubectl")), "--kubeconfig", str(self.kubeconfig), "-n", self.ns, *args]
        text = json.dumps(obj) if obj is not None else None
        return subprocess.run(cmd, input=text, capture_output=True, text=True, check=False, timeout=60)

    def create(self, obj: dict[str, Any]) -> subprocess.CompletedProcess[str]:
        return self.kubectl("create", "-f", "-", obj=obj)


def task_as(name: str, account: str | None = None, field: str = "serviceAccountName", **spec: Any) -> dict[str, Any]:
    obj = builders.task(name, **spec)
    if account:
        obj["spec"]["payload"]["spec"]["template"]["spec"][field] = account
    return obj


def api_body(obj: dict[str, Any]) -> dict[str, Any]:
    spec = obj["spec"]
    return {"name": obj["metadata"]["name"], "title": spec["title"], "payload": spec["payload"]}


def agent(name: str, account: str) -> dict[str, Any]:
    return builders.agent(name, 5, jobDefaults={"serviceAccountName": account})


def refused(out: subprocess.CompletedProcess[str], *words: str) -> None:
    assert out.returncode != 0, f"the write was accepted: {out.stdout}"
    assert "denied request" in out.stderr and all(w in out.stderr for w in words), out.stderr


def accepted(out: subprocess.CompletedProcess[str]) -> None:
    assert out.returncode == 0, out.stderr


@pytest.fixture
def robot(cluster: Cluster, ns: str) -> str:
    cluster.kubectl("create", "serviceaccount", ROBOT, "-n", ns)
    return ROBOT


def test_create_tasks_without_create_jobs_is_refused(cluster: Cluster, api: Caller, kube: Kube, ns: str) -> None:
    """`create tasks` alone used to make the operator create any Job (here: a privileged one) for its author."""
    tasker = User(cluster, api, ns, "tasker", [TASKS_RUNS])
    evil = builders.task("evil")
    evil["spec"]["payload"]["spec"]["template"]["spec"]["containers"][0]["securityContext"] = {"privileged": True}

    refused(tasker.create(evil), "may not create jobs (batch)")
    problem = assert_problem(tasker.api.post("/api/v1/tasks", json=api_body(evil)), 403, "body.payload")
    assert "create jobs.batch" in problem["detail"] and ':tasker"' in problem["detail"], problem
    assert kube.get(ns, "tasks", "evil") is None

    # What does not shape pods stays open to them: labels, pausing, a schedule, on a Task someone else wrote.
    kube.create(ns, builders.task("theirs"))
    accepted(tasker.kubectl("label", "task", "theirs", "team=a"))
    assert tasker.api.post("/api/v1/tasks/theirs/pause").status_code == 200
    accepted(tasker.kubectl("patch", "task", "theirs", "--type=merge", "-p", '{"spec":{"priority":7}}'))
    # Changing its payload is writing a Job template: refused both ways.
    image = '{"spec":{"payload":{"spec":{"template":{"spec":{"containers":[{"name":"main","image":"evil:1"}]}}}}}}'
    refused(tasker.kubectl("patch", "task", "theirs", "--type=merge", "-p", image), "may not create jobs")
    put = tasker.api.put("/api/v1/tasks/theirs", json={"payload": api_body(evil)["payload"]})
    assert_problem(put, 403, "body.payload")


def test_a_service_account_needs_its_own_grant(cluster: Cluster, api: Caller, kube: Kube, ns: str, robot: str) -> None:
    """A user who may create Jobs but not act as `robot` cannot name it: in a Task, an Agent, or via an Agent."""
    dev = User(cluster, api, ns, "dev", [TASKS_RUNS, CREATE_JOBS, READ_AGENTS])

    refused(dev.create(task_as("as-robot", robot)), "may not use service account robot")
    refused(dev.create(task_as("as-robot", robot, field="serviceAccount")), "may not use service account robot")
    problem = assert_problem(
        dev.api.post("/api/v1/tasks", json=api_body(task_as("as-robot", robot))),
        403,
        "body.payload.spec.template.spec.serviceAccountName",
    )
    assert 'impersonate serviceaccounts "robot"' in problem["detail"], problem
    refused(dev.create(agent("robot-agent", robot)), "may not use service account robot")

    # An Agent someone allowed made: naming it is using its service account.
    kube.create(ns, agent("robot-agent", robot))
    kube.create(ns, builders.task("plain"))
    refused(dev.create(builders.run("via-agent", "plain", agent="robot-agent")), "may not use agent robot-agent")
    refused(dev.create(task_as("agent-task", agent="robot-agent")), "may not use agent robot-agent")
    queued = dev.api.post("/api/v1/integrations/executions", json={"task_id": "plain", "agent_id": "robot-agent"})
    assert_problem(queued, 403, "body.agent_id")
    assert "use agents.taskops.dev" in queued.json()["detail"]
    assert not [j for j in kube.jobs(ns) if j.spec.template.spec.service_account_name == robot]
    # Nor can they swap the containers of a Task that runs as robot: a merge patch keeps the stored account.
    kube.create(ns, task_as("runs-as-robot", robot))
    swap = {"payload": {"spec": {"template": {"spec": {"containers": [{"name": "main", "image": "evil:1"}]}}}}}
    put = dev.api.put("/api/v1/tasks/runs-as-robot", json=swap)
    assert_problem(put, 403, "body.payload.spec.template.spec.serviceAccountName")
    refused(
        dev.kubectl("patch", "task", "runs-as-robot", "--type=merge", "-p", json.dumps({"spec": swap})),
        "may not use service account robot",
    )
    # Changing what does not shape pods (its capacity) stays open to whoever may patch Agents.
    accepted(dev.kubectl("patch", "agent", "robot-agent", "--type=merge", "-p", '{"spec":{"capacity":2}}'))

    # Nor is a Task a way to use a Secret, or a Run to read ConfigMaps, its author may not get.
    cluster.kubectl("create", "secret", "generic", "theirs", "-n", ns, "--from-literal=secret=k")
    refused(dev.create(task_as("signer", webhookSecret="theirs")), "may not get secret theirs")
    signer = {**api_body(task_as("signer")), "webhook_secret": "theirs"}
    assert_problem(dev.api.post("/api/v1/tasks", json=signer), 403, "body.webhook_secret")
    inputs = {"count": 1, "chunkSize": 1, "configMaps": ["kube-root-ca.crt"]}
    refused(dev.create(builders.run("reads", "plain", inputs=inputs)), "may not get configmaps")

    # The same user with their own Jobs and the default account goes through.
    accepted(dev.create(task_as("as-default", "default")))
    assert dev.api.post("/api/v1/tasks", json=api_body(task_as("mine"))).status_code == 201


def test_allowed_users_still_succeed(cluster: Cluster, api: Caller, kube: Kube, ns: str, robot: str) -> None:
    """Granted the account (either way) and the agent, the same writes go through and the pods run as robot."""
    use_robot = {
        "apiGroups": ["taskops.dev"],
        "resources": ["serviceaccounts"],
        "verbs": ["use"],
        "resourceNames": [robot],
    }
    use_agent = {
        "apiGroups": ["taskops.dev"],
        "resources": ["agents"],
        "verbs": ["use"],
        "resourceNames": ["robot-agent"],
    }
    lead = User(cluster, api, ns, "lead", [TASKS_RUNS, CREATE_JOBS, READ_AGENTS, use_robot, use_agent])
    impersonate = {
        "apiGroups": [""],
        "resources": ["serviceaccounts"],
        "verbs": ["impersonate"],
        "resourceNames": [robot],
    }
    ops = User(cluster, api, ns, "ops", [TASKS_RUNS, CREATE_JOBS, impersonate])

    accepted(lead.create(task_as("by-kubectl", robot)))
    created = ops.api.post("/api/v1/tasks", json=api_body(task_as("by-api", robot)))
    assert created.status_code == 201, created.text
    accepted(lead.create(agent("robot-agent", robot)))
    kube.create(ns, builders.task("plain"))
    accepted(lead.create(builders.run("via-agent", "plain", agent="robot-agent")))
    queued = lead.api.post("/api/v1/integrations/executions", json={"task_id": "plain", "agent_id": "robot-agent"})
    assert queued.status_code == 201, queued.text

    # The operator's own writes (Runs of triggers, status, Jobs) are not in the way: all four end SUCCEEDED.
    runs = [
        ops.api.post("/api/v1/tasks/by-api/run").json()["id"],
        lead.api.post("/api/v1/tasks/by-kubectl/run").json()["id"],
    ]
    runs += ["via-agent", queued.json()["id"]]
    for name in runs:
        kube.wait_run_phase(ns, name, {"SUCCEEDED"}, timeout=90)
    accounts = {j.metadata.labels["taskops.dev/run"]: j.spec.template.spec.service_account_name for j in kube.jobs(ns)}
    assert all(accounts[name] == robot for name in runs), accounts


def test_resume_needs_reading_and_patching_the_run(cluster: Cluster, api: Caller, kube: Kube, ns: str) -> None:
    """`create runs` alone used to be enough to rerun anybody's failed run."""
    task = api_body(builders.task("fails", pod_annotations=builders.pod_behaviour(exit_code=3)))
    assert api.post("/api/v1/tasks", json={**task, "max_retries": 0}).status_code == 201
    run = api.post("/api/v1/tasks/fails/run", params={"wait": "true", "wait_timeout": 60}).json()
    assert run["status"] == "ended" and run["end_reason"] == "failed", run

    create_runs = {"apiGroups": ["taskops.dev"], "resources": ["runs"], "verbs": ["create"]}
    trigger_only = User(cluster, api, ns, "trigger-only", [create_runs])
    problem = assert_problem(trigger_only.api.post(f"/api/v1/runs/{run['id']}/resume"), 403)
    assert "get runs" in problem["detail"], problem
    reader = {"apiGroups": ["taskops.dev"], "resources": ["runs"], "verbs": ["create", "get"]}
    problem = assert_problem(
        User(cluster, api, ns, "reader", [reader]).api.post(f"/api/v1/runs/{run['id']}/resume"), 403
    )
    assert "patch runs" in problem["detail"], problem
    # Rights on that run alone (resourceNames) are enough.
    named = {
        "apiGroups": ["taskops.dev"],
        "resources": ["runs"],
        "verbs": ["get", "patch"],
        "resourceNames": [run["id"]],
    }
    owner = User(cluster, api, ns, "owner", [create_runs, named])
    resumed = owner.api.post(f"/api/v1/runs/{run['id']}/resume")
    assert resumed.status_code == 201, resumed.text


def test_task_versions_cannot_be_forged(cluster: Cluster, api: Caller, kube: Kube, ns: str) -> None:
    """A Run pins a version (a ControllerRevision labelled with its Task); forging one would be a Task unjudged."""
    kube.create(ns, builders.task("pinned"))
    rights = {"apiGroups": ["apps"], "resources": ["controllerrevisions"], "verbs": ["create", "patch", "get"]}
    forger = User(cluster, api, ns, "forger", [TASKS_RUNS, CREATE_JOBS, rights])
    forged = task_as("pinned", ROBOT)
    revision = {
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "metadata": {"name": "pinned-v99", "labels": {"taskops.dev/task": "pinned", "taskops.dev/version": "99"}},
        "revision": 99,
        "data": {"spec": forged["spec"]},
    }
    refused(forger.create(revision), "only the taskops operator writes them")
    unlabelled = {**revision, "metadata": {"name": "pinned-v99"}}
    accepted(forger.create(unlabelled))
    refused(forger.kubectl("label", "controllerrevision", "pinned-v99", "taskops.dev/task=pinned"), "Task version")
    accepted(forger.kubectl("annotate", "controllerrevision", "pinned-v99", "note=unrelated"))

    # The operator's own versions are still written.
    def operators() -> list[Any] | None:
        items = kube.apps.list_namespaced_controller_revision(ns, label_selector="taskops.dev/task=pinned").items
        return list(items) or None

    assert [r.metadata.name for r in wait_for(operators, 30, what="the operator's version")] != ["pinned-v99"]


def test_optional_pod_security_policy(cluster: Cluster, api: Caller, kube: Kube, ns: str) -> None:
    """crds/policies/optional: no privileged, hostPath, host-namespace or nodeName payloads, for anyone."""
    text = (REPO / "crds" / "policies" / "optional" / "taskops-pod-security.yaml").read_text()
    items = [doc for doc in yaml.safe_load_all(text) if doc]
    for obj in items:  # this test's namespace only: the session's other tests share the control plane
        obj["metadata"]["name"] = f"{ns}-{obj['metadata']['name']}"
        if obj["kind"] == "ValidatingAdmissionPolicyBinding":
            obj["spec"]["policyName"] = f"{ns}-{obj['spec']['policyName']}"
            obj["spec"]["matchResources"]["namespaceSelector"] = {"matchLabels": {"kubernetes.io/metadata.name": ns}}
    manifest = json.dumps({"apiVersion": "v1", "kind": "List", "items": items})
    cluster.kubectl("apply", "-f", "-", input=manifest)
    try:
        _pod_security_cases(cluster, api, kube, ns)
    finally:
        cluster.kubectl("delete", "-f", "-", input=manifest)


def _pod_security_cases(cluster: Cluster, api: Caller, kube: Kube, ns: str) -> None:
    admin = User(cluster, api, ns, "admin", [TASKS_RUNS, CREATE_JOBS])

    def with_pod(name: str, **fields: Any) -> dict[str, Any]:
        obj = builders.task(name)
        obj["spec"]["payload"]["spec"]["template"]["spec"].update(fields)
        return obj

    privileged = builders.task("privileged")
    privileged["spec"]["payload"]["spec"]["template"]["spec"]["containers"][0]["securityContext"] = {"privileged": True}
    cases = {
        "privileged containers": privileged,
        "hostPath volumes": with_pod("host-path", volumes=[{"name": "root", "hostPath": {"path": "/"}}]),
        "host namespaces": with_pod("host-net", hostNetwork=True),
        "nodeName": with_pod("pinned", nodeName="some-node"),
    }
    deadline = time.monotonic() + 30  # a new policy takes effect once the API server's informer has it
    while admin.create(cases["privileged containers"]).returncode == 0:
        kube.delete(ns, "tasks", "privileged")
        assert time.monotonic() < deadline, "the pod-security policy never took effect"
        time.sleep(0.5)
    for what, obj in cases.items():
        refused(admin.create(obj), what)
    # The API's own write is judged too (the rule is about the pod, not its author).
    assert_problem(api.post("/api/v1/tasks", json=api_body(cases["hostPath volumes"])), 403)
    accepted(admin.create(builders.task("plain")))


def test_policies_are_generated_and_installed(cluster: Cluster) -> None:
    from taskops import crds

    assert crds.check_policies() == []
    names = cluster.kubectl("get", "validatingadmissionpolicies", "-o", "name").split()
    assert {f"validatingadmissionpolicy.admissionregistration.k8s.io/taskops-{p}.taskops.dev" for p in
            ("tasks", "agents", "runs")} <= set(names), names  # fmt: skip
