"""The chart installed as a user installs it, on the real node: the README's "Run taskops on your own cluster"
block, run as it stands (only the image load differs), then two operator replicas electing a leader, two API
replicas, probes, read-only root file systems, the chart's RBAC and in-cluster credentials only. A Run created
through the in-cluster API is executed by the in-cluster operator as a real container.

The release is the README's (`taskops` in `taskops-system`), the names the local processes' identities also use,
so this module runs before any other of the tier starts them (conftest.py orders it first) and its uninstall
leaves the names free for them."""

from __future__ import annotations

import base64
import json
import os
import re
import shlex
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from devcluster import build, images, realnode
from devcluster.cluster import Cluster
from taskops.domain.delivery import webhooks
from tests import builders
from tests.integration.api import Caller, full_access, service_account
from tests.integration.controlplane import WEBHOOK_KEY, WEBHOOK_SECRET
from tests.integration.kube import Kube, wait_for
from tests.integration.receiver import Receiver
from tests.paths import REPO
from tests.realnode.realtasks import real_task

ENDED = {"SUCCEEDED", "FAILED", "STOPPED", "INVALID", "PARTIAL_SUCCEEDED"}
RELEASE = "taskops"
NAMESPACE = "taskops-system"
# The README's lines that make and load the image; the tier imports the image it built instead.
IMAGE_LOAD = ("kind", "docker")


def helm(cluster: Cluster, *args: str) -> str:
    out = subprocess.run(
        [str(build.binary("helm")), "--kubeconfig", str(cluster.kubeconfig), *args],
        capture_output=True, text=True, check=False, timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, f"helm {' '.join(args)}: {out.stderr}"
    return out.stdout


def pods(cluster: Cluster, component: str) -> list[dict[str, Any]]:
    selector = f"app.kubernetes.io/instance={RELEASE},app.kubernetes.io/component={component}"
    got = json.loads(cluster.kubectl("get", "pods", "-n", NAMESPACE, "-l", selector, "-o", "json"))
    return got["items"]  # type: ignore[no-any-return]


def readme_commands() -> list[list[str]]:
    """The commands of the README's install block, continuation lines joined and comments dropped."""
    text = (REPO / "README.md").read_text()
    section = text[text.index("## Run taskops on your own cluster") :]
    match = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert match, "README: no sh block under 'Run taskops on your own cluster'"
    joined = match.group(1).replace("\\\n", " ")
    return [argv for line in joined.splitlines() if (argv := shlex.split(line, comments=True))]


def run_readme_command(cluster: Cluster, argv: list[str]) -> str:
    """One README command with this cluster's kubectl and helm, from the repository root (paths are relative)."""
    assert argv[0] in ("helm", "kubectl"), f"README: a command the test cannot run here: {shlex.join(argv)}"
    env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig)}
    out = subprocess.run(
        [str(build.binary(argv[0])), *argv[1:]], cwd=REPO, env=env, capture_output=True, text=True, check=False,
        timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, f"README: {shlex.join(argv)}: {out.stderr}"
    return out.stdout


def load_images(cluster: Cluster, taskops_image_name: str) -> None:
    """What `docker build` + `kind load` give a kind node: the README's image names in the node's store."""
    assert cluster.node is not None
    cluster.node.ctr("images", "tag", "--force", taskops_image_name, "docker.io/library/taskops:dev")
    # The example Task's container, served by the busybox image made here.
    cluster.node.ctr("images", "tag", "--force", images.busybox_image().name, "docker.io/library/busybox:1.36")


def kwok_nodes(cluster: Cluster) -> list[str]:
    names = cluster.kubectl("get", "nodes", "-o", "name").split()
    return [n for n in names if n != f"node/{realnode.NAME}"]


@pytest.fixture(scope="module")
def chart(cluster: Cluster, taskops_image_name: str) -> Iterator[str]:
    """The README's block, run on a cluster that is, for this module, one real node: the kwok nodes cordoned and
    the real node's taint lifted, as on a kind cluster. Yields the README's output."""
    existing = cluster.kubectl("get", "serviceaccounts", "-n", NAMESPACE, "-o", "name", check=False)
    if f"serviceaccount/{RELEASE}-operator" in existing:
        pytest.fail("the local processes' identities hold the release's names: run this module first (conftest.py)")
    # The non-Helm admission policies and the local operator's signing key carry the names of the release's own
    # objects: Helm refuses to adopt what it did not make. They come back after the module.
    policies = str(REPO / "crds" / "policies")
    cluster.kubectl("delete", "-f", policies, "--ignore-not-found")
    cluster.kubectl("delete", "secret", WEBHOOK_SECRET[1], "-n", WEBHOOK_SECRET[0], "--ignore-not-found")
    kwok = kwok_nodes(cluster)
    for node in kwok:
        cluster.kubectl("cordon", node)
    cluster.kubectl("taint", "nodes", realnode.NAME, f"{realnode.TAINT_KEY}-")
    load_images(cluster, taskops_image_name)
    try:
        yield "".join(run_readme_command(cluster, argv) for argv in readme_commands() if argv[0] not in IMAGE_LOAD)
    finally:
        print(cluster.kubectl("get", "pods", "-A", "-o", "wide", check=False))
        for component in ("operator", "api"):
            for pod in pods(cluster, component):
                name = pod["metadata"]["name"]
                for previous in ("--previous=false", "--previous=true"):
                    log = cluster.kubectl("logs", "-n", NAMESPACE, name, "--tail=30", previous, check=False)
                    print(f"--- {name} {previous} ---\n{log}")
        if RELEASE in helm(cluster, "list", "--namespace", NAMESPACE, "--short"):
            helm(cluster, "uninstall", RELEASE, "--namespace", NAMESPACE, "--wait", "--timeout", "120s")
        cluster.kubectl("delete", "tasks,runs", "--all", "-n", "default", "--wait=false", check=False)
        # The release's operators' Lease would hold the local operator back until it expired.
        cluster.kubectl("delete", "leases", "--all", "-n", NAMESPACE, check=False)
        cluster.kubectl("taint", "nodes", realnode.NAME, f"{realnode.TAINT_KEY}=true:NoSchedule", "--overwrite")
        for node in kwok:
            cluster.kubectl("uncordon", node)
        cluster.kubectl("apply", "-f", policies)
        # The release's operator made its signing Secret, which outlives the release (docs/gitops.md).
        cluster.kubectl("delete", "secret", WEBHOOK_SECRET[1], "-n", WEBHOOK_SECRET[0], "--ignore-not-found")
        cluster.kubectl("create", "secret", "generic", WEBHOOK_SECRET[1], "-n", WEBHOOK_SECRET[0],
                        f"--from-literal=secret={WEBHOOK_KEY.decode()}")  # fmt: skip


def test_the_readme_steps_run_the_example_in_a_real_container(cluster: Cluster, chart: str) -> None:
    assert "hello from taskops run hello-" in chart, chart
    [run] = json.loads(cluster.kubectl("get", "runs", "-n", "default", "-o", "json"))["items"]
    assert (run["status"]["phase"], run["status"]["exitCode"]) == ("SUCCEEDED", 0), run["status"]
    [pod] = json.loads(cluster.kubectl("get", "pods", "-n", "default", "-l", "taskops.dev/task=hello", "-o", "json"))[
        "items"
    ]
    assert pod["spec"]["nodeName"] == realnode.NAME
    assert pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 0


def test_the_chart_runs_on_the_real_node_with_in_cluster_credentials(cluster: Cluster, chart: str) -> None:
    for component in ("operator", "api"):
        running = pods(cluster, component)
        assert len(running) == 2, [p["metadata"]["name"] for p in running]
        for pod in running:
            assert pod["spec"]["nodeName"] == realnode.NAME
            ready = next(c for c in pod["status"]["conditions"] if c["type"] == "Ready")
            assert ready["status"] == "True", pod["status"]
            container = pod["spec"]["containers"][0]
            assert container["securityContext"]["readOnlyRootFilesystem"] is True
            assert container["readinessProbe"] and container["livenessProbe"]
    # One leader among the two operator replicas, named by its pod.
    lease = json.loads(cluster.kubectl("get", "leases", "-n", NAMESPACE, "-o", "json"))["items"]
    holders = {item["spec"].get("holderIdentity") for item in lease}
    assert holders & {p["metadata"]["name"] for p in pods(cluster, "operator")}, holders


def test_a_run_through_the_in_cluster_api_runs_a_real_container(
    cluster: Cluster, kube: Kube, chart: str, ns: str
) -> None:
    kube.create(ns, real_task("hello", "echo hello from a real node; exit 0", maxRetries=0))
    api_pod = pods(cluster, "api")[0]
    token = service_account(cluster, ns, "caller", full_access())
    # The test reaches the pod at its address on the node's bridge (no kube-proxy: Services do not route).
    caller = Caller(f"http://{api_pod['status']['podIP']}:8080", ns, token)
    resp = caller.post("/api/v1/tasks/hello/run", params={"wait": "true", "wait_timeout": 120})
    assert resp.status_code == 200, resp.text
    run = resp.json()
    assert (run["status"], run["end_reason"], run["exit_code"]) == ("ended", "success", 0), run
    assert kube.run(ns, run["id"])["status"]["phase"] == "SUCCEEDED"
    # The in-cluster API serves the real container's log, read through the kubelet.
    logs = caller.get(f"/api/v1/runs/{run['id']}/logs")
    assert logs.status_code == 200 and "hello from a real node" in logs.text, logs.text


def metric_values(text: str, name: str) -> list[float]:
    return [float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.split("{")[0].split(" ")[0] == name]


def test_metrics_scrape_through_the_services(cluster: Cluster, chart: str) -> None:
    """The API's /metrics through its ClusterIP Service; every operator replica's through the headless one."""
    [api_svc] = json.loads(
        cluster.kubectl("get", "services", "-n", NAMESPACE, "-l",
                        f"app.kubernetes.io/instance={RELEASE},app.kubernetes.io/component=api", "-o", "json")
    )["items"]  # fmt: skip
    url = f"http://{api_svc['spec']['clusterIP']}:{api_svc['spec']['ports'][0]['port']}/metrics"

    def scrape() -> str | None:
        try:
            resp = requests.get(url, timeout=5)
        except requests.RequestException:
            return None  # devcluster/svcproxy.py picks a Service up within a second or two
        return resp.text if resp.status_code == 200 else None

    assert "taskops_api_requests_total" in wait_for(scrape, 30, what="the API Service's /metrics")
    [operator_svc] = json.loads(
        cluster.kubectl("get", "services", "-n", NAMESPACE, "-l",
                        f"app.kubernetes.io/instance={RELEASE},app.kubernetes.io/component=operator", "-o", "json")
    )["items"]  # fmt: skip
    assert operator_svc["spec"]["clusterIP"] == "None"
    slices = json.loads(
        cluster.kubectl("get", "endpointslices", "-n", NAMESPACE, "-l",
                        f"kubernetes.io/service-name={operator_svc['metadata']['name']}", "-o", "json")
    )["items"]  # fmt: skip
    targets = [
        (address, port["port"])
        for sl in slices
        for port in sl["ports"]
        for ep in sl["endpoints"]
        if ep["conditions"].get("ready")
        for address in ep["addresses"]
    ]
    assert len(targets) == 2, targets
    leaders = []
    for address, port in targets:
        text = requests.get(f"http://{address}:{port}/metrics", timeout=5).text
        leaders += metric_values(text, "taskops_leader")
    assert sorted(leaders) == [0.0, 1.0], "exactly one replica leads"


def leader(cluster: Cluster) -> str | None:
    leases = json.loads(cluster.kubectl("get", "leases", "-n", NAMESPACE, "-o", "json"))["items"]
    names = {p["metadata"]["name"] for p in pods(cluster, "operator")}
    held = [item["spec"].get("holderIdentity") for item in leases if item["spec"].get("holderIdentity") in names]
    return held[0] if held else None


def test_deleting_the_leader_hands_over_and_no_run_is_lost_or_doubled(
    cluster: Cluster, kube: Kube, chart: str, ns: str
) -> None:
    kube.create(ns, real_task("handover", "echo once", maxRetries=0))
    first = leader(cluster)
    assert first is not None
    standby = next(p["metadata"]["name"] for p in pods(cluster, "operator") if p["metadata"]["name"] != first)
    cluster.kubectl("delete", "pod", "-n", NAMESPACE, first, "--wait=false")
    for i in range(3):
        kube.create(ns, builders.run(f"handover-{i}", "handover"))
    # The standby (or the Deployment's replacement) holds the Lease within the lease duration (15 s).

    def new_leader() -> str | None:
        got = leader(cluster)
        return got if got not in (None, first) else None

    new = wait_for(new_leader, 30, what="a new leader")
    assert new in (standby, *(p["metadata"]["name"] for p in pods(cluster, "operator")))
    for i in range(3):
        run = kube.wait_run_phase(ns, f"handover-{i}", ENDED, timeout=120)
        assert run["status"]["phase"] == "SUCCEEDED", run["status"]
        jobs = [j for j in kube.jobs(ns) if (j.metadata.labels or {}).get("taskops.dev/run") == f"handover-{i}"]
        assert len(jobs) == 1, [j.metadata.name for j in jobs]


def test_helm_upgrade_with_a_changed_value_rolls_out(cluster: Cluster, chart: str) -> None:
    """The changed value names the next test's webhook receiver, on the pods' gateway: a private address, denied
    until named (docs/security.md), as a user names theirs."""
    before = {p["metadata"]["name"] for p in pods(cluster, "operator")}
    helm(cluster, "upgrade", RELEASE, str(REPO / "charts" / "taskops"), "--namespace", NAMESPACE, "--reuse-values",
         "--set-json", f"webhook.allow={json.dumps([realnode.GATEWAY])}", "--wait", "--timeout", "240s")  # fmt: skip

    def replaced() -> list[dict[str, Any]] | None:
        now = pods(cluster, "operator")
        ready = [p for p in now if p["status"].get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")]
        fresh = not {p["metadata"]["name"] for p in ready} & before
        return ready if len(ready) == 2 and fresh else None

    rolled = wait_for(replaced, 120, what="the operator pods to be replaced")
    assert len(rolled) == 2
    for pod in rolled:
        args = pod["spec"]["containers"][0]["args"]
        assert args[args.index("--webhook-allow") + 1] == realnode.GATEWAY
    # A replaced leader keeps its Lease while it shuts down and still acts with the old flags (it would deny the
    # next test's receiver, for good): the upgrade is done once one of the new pods leads.
    fresh = {p["metadata"]["name"] for p in rolled}
    wait_for(lambda: leader(cluster) in fresh, 60, what="one of the new pods to lead after the upgrade")


def why_no_webhook(cluster: Cluster, ns: str, run: str) -> str:
    """What a missing webhook leaves behind: the Run's status and the operator pods' last log lines."""
    status = cluster.kubectl("get", "run", run, "-n", ns, "-o", "jsonpath={.status}")
    logs = [
        f"--- {p['metadata']['name']}\n"
        + cluster.kubectl("logs", p["metadata"]["name"], "-n", NAMESPACE, "--tail=40", check=False)
        for p in pods(cluster, "operator")
    ]
    return f"run {run} status: {status}\n" + "\n".join(logs)


def test_a_signed_webhook_from_the_in_cluster_operator_reaches_a_receiver(
    cluster: Cluster, kube: Kube, chart: str, ns: str
) -> None:
    """The receiver listens on the pods' gateway address, the one host address a pod can reach."""
    receiver = Receiver(host=realnode.GATEWAY)
    try:
        kube.create(ns, real_task("hooked", "echo done", maxRetries=0))
        created = kube.create(ns, builders.run("hooked-1", "hooked", callbackUrl=receiver.url("/done")))
        try:
            [got] = wait_for(lambda: receiver.to("/done") or None, 90, what="the webhook")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{why_no_webhook(cluster, ns, 'hooked-1')}") from None
        # The operator made the release key on its first start (--webhook-secret-create): the chart renders none.
        made = json.loads(cluster.kubectl("get", "secret", f"{RELEASE}-webhook", "-n", NAMESPACE, "-o", "json"))
        assert made["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "taskops-operator"
        release_key = base64.b64decode(made["data"]["secret"])
        key = webhooks.namespace_key(release_key, ns)  # a Task without webhookSecret signs with its namespace's key
        headers = {k.lower(): v for k, v in got.headers.items()}
        assert webhooks.verify(
            key, headers["x-taskops-timestamp"], got.body, headers["x-taskops-signature"], now=time.time()
        )
        assert headers["x-taskops-delivery"] == created["metadata"]["uid"]
        body = json.loads(got.body)
        assert (body["id"], body["status"], body["is_successful"]) == ("hooked-1", "SUCCEEDED", True)
    finally:
        receiver.stop()


def test_helm_uninstall_leaves_no_taskops_object_but_the_crds(cluster: Cluster, chart: str) -> None:
    helm(cluster, "uninstall", RELEASE, "--namespace", NAMESPACE, "--wait", "--timeout", "120s")
    selector = f"app.kubernetes.io/instance={RELEASE}"
    namespaced = "deployments,replicasets,pods,services,serviceaccounts,secrets,roles,rolebindings,poddisruptionbudgets"
    wait_for(
        lambda: cluster.kubectl("get", namespaced, "-n", NAMESPACE, "-l", selector, "-o", "name").strip() == "",
        60,
        what="the release's namespaced objects to go",
    )
    cluster_wide = cluster.kubectl("get", "clusterroles,clusterrolebindings", "-l", selector, "-o", "name")
    assert cluster_wide.strip() == ""
    # Helm installs the chart's crds/ once and never deletes them: deleting a CRD deletes every Task and Run.
    crds = cluster.kubectl("get", "crd", "-o", "name")
    assert "tasks.taskops.dev" in crds and "runs.taskops.dev" in crds
