"""The chart installed as a user installs it, on the real node: `helm install` with the image built here
(imagePullPolicy Never), two operator replicas electing a leader, two API replicas, probes, read-only root
file systems, the chart's RBAC and in-cluster credentials only. A Run created through the in-cluster API
is executed by the in-cluster operator as a real container."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from devcluster import build, realnode
from devcluster.cluster import Cluster
from tests.integration.api import Caller, full_access, service_account
from tests.integration.kube import Kube
from tests.integration.processes import OperatorProcess
from tests.paths import REPO
from tests.realnode.conftest import real_task

RELEASE = "real"
NAMESPACE = "taskops-chart"  # not taskops-system, where the local processes' identities live


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


@pytest.fixture(scope="module")
def chart(cluster: Cluster, taskops_image_name: str, operator_process: OperatorProcess) -> Iterator[None]:
    """The release, installed while the local operator is stopped (two operators must never share Runs)."""
    operator_process.stop()
    repository, tag = taskops_image_name.rsplit(":", 1)
    try:
        helm(
            cluster, "install", RELEASE, str(REPO / "charts" / "taskops"), "--namespace", NAMESPACE,
            "--create-namespace", "--wait", "--timeout", "240s",
            "--set", f"image.repository={repository}", "--set", f"image.tag={tag}",
            "--set", "image.pullPolicy=Never",
            "--set", f"nodeSelector.{realnode.LABEL[0]}={realnode.LABEL[1]}",
            "--set-json", f"tolerations={json.dumps([realnode.TOLERATION])}",
        )  # fmt: skip
        yield
    finally:
        for component in ("operator", "api"):
            for pod in pods(cluster, component):
                name = pod["metadata"]["name"]
                print(f"--- {name} ---\n{cluster.kubectl('logs', '-n', NAMESPACE, name, '--tail=30', check=False)}")
        helm(cluster, "uninstall", RELEASE, "--namespace", NAMESPACE, "--wait", "--timeout", "120s")
        operator_process.start()


def test_the_chart_runs_on_the_real_node_with_in_cluster_credentials(cluster: Cluster, chart: None) -> None:
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
    cluster: Cluster, kube: Kube, chart: None, ns: str
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
