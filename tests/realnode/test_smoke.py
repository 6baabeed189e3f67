"""Task containers that really run: busybox on a real kubelet, containerd and runc (no kwok annotations).

What kwok only simulates (tests/integration/test_execution.py) is proven here on the real thing: exit
codes, the termination message as the Run's result, params as env and as /etc/taskops/params.json, and
the container's log through the API server and the kubelet."""

from __future__ import annotations

import json
import time

import requests

from devcluster import realnode
from devcluster.cluster import Cluster
from tests import builders
from tests.integration.api import Caller
from tests.integration.kube import Kube, wait_for
from tests.integration.processes import OperatorProcess
from tests.realnode.realtasks import real_task

ENDED = {"SUCCEEDED", "FAILED", "STOPPED", "INVALID", "PARTIAL_SUCCEEDED"}
# A cold real node pulls nothing, but the first sandbox and container of a run take a few seconds.
TIMEOUT = 90.0


def pod_of(cluster: Cluster, ns: str, job: str) -> dict[str, object]:
    pods = json.loads(cluster.kubectl("get", "pods", "-n", ns, "-l", f"job-name={job}", "-o", "json"))["items"]
    assert len(pods) == 1, pods
    return pods[0]  # type: ignore[no-any-return]


def test_exit_0_succeeds_on_the_real_node_and_its_log_is_served(
    cluster: Cluster, kube: Kube, operator: OperatorProcess, ns: str
) -> None:
    kube.create(ns, real_task("ok", "echo first line; echo second line; exit 0", maxRetries=0))
    kube.create(ns, builders.run("ok-1", "ok"))
    run = kube.wait_run_phase(ns, "ok-1", ENDED, timeout=TIMEOUT)
    assert (run["status"]["phase"], run["status"]["endReason"]) == ("SUCCEEDED", "success"), run["status"]
    pod = pod_of(cluster, ns, run["status"]["jobName"])
    assert pod["spec"]["nodeName"] == realnode.NAME  # type: ignore[index]
    # The real container's output, read by the kubelet from containerd's log and served to the API server.
    logs = cluster.kubectl("logs", "-n", ns, pod["metadata"]["name"])  # type: ignore[index]
    assert logs == "first line\nsecond line\n"


def test_exit_3_fails_with_exit_code_3(cluster: Cluster, kube: Kube, operator: OperatorProcess, ns: str) -> None:
    kube.create(ns, real_task("three", "echo failing; exit 3", maxRetries=0))
    kube.create(ns, builders.run("three-1", "three"))
    run = kube.wait_run_phase(ns, "three-1", ENDED, timeout=TIMEOUT)
    status = run["status"]
    assert (status["phase"], status["endReason"], status["exitCode"]) == ("FAILED", "failed", 3), status
    assert status["attempts"][0]["exitCode"] == 3


def test_termination_log_becomes_the_result_and_params_reach_the_container(
    cluster: Cluster, kube: Kube, operator: OperatorProcess, ns: str
) -> None:
    schema = {
        "type": "object",
        "required": ["env", "file"],
        "properties": {"env": {"type": "string"}, "file": {"type": "object"}},
    }
    script = (
        'printf \'{"env":"%s","file":%s}\' "$TASKOPS_PARAM_GREETING" "$(cat /etc/taskops/params.json)"'
        " > /dev/termination-log"
    )
    kube.create(
        ns,
        real_task(
            "result",
            script,
            params=[{"name": "greeting", "type": "string"}, {"name": "count", "type": "integer", "default": 2}],
            resultSchema=schema,
            maxRetries=0,
        ),
    )
    kube.create(ns, builders.run("result-1", "result", params={"greeting": "hello, world"}))
    run = kube.wait_run_phase(ns, "result-1", ENDED, timeout=TIMEOUT)
    assert run["status"]["phase"] == "SUCCEEDED", run["status"]
    result = run["status"]["result"]
    assert result["env"] == "hello, world"
    assert result["file"]["params"] == {"greeting": "hello, world", "count": 2}
    cond = next(c for c in run["status"]["conditions"] if c["type"] == "ResultValid")
    assert cond["status"] == "True"


def test_kwok_targeted_pods_stay_off_the_real_node(
    cluster: Cluster, kube: Kube, operator: OperatorProcess, ns: str
) -> None:
    """The real node's taint keeps every pod that does not ask for it (all the kwok-driven tests') away."""
    kube.create(ns, builders.task("sim", pod_annotations=builders.pod_behaviour(duration="200ms")))
    kube.create(ns, builders.run("sim-1", "sim"))
    run = kube.wait_run_phase(ns, "sim-1", ENDED, timeout=TIMEOUT)
    assert run["status"]["phase"] == "SUCCEEDED", run["status"]
    node = wait_for(
        lambda: pod_of(cluster, ns, run["status"]["jobName"])["spec"].get("nodeName"),  # type: ignore[attr-defined]
        10,
        what="the pod's node",
    )
    assert node != realnode.NAME and str(node).startswith("kwok-node-")


def test_failure_taxonomy_on_the_real_kernel(cluster: Cluster, kube: Kube, operator: OperatorProcess, ns: str) -> None:
    """OOM kill by the kernel, the Job deadline, and an image the node does not have: each its own end reason."""
    oom = real_task("oom", "x=$(head -c 268435456 /dev/zero | tr '\\000' a); echo survived", maxRetries=0)
    container = oom["spec"]["payload"]["spec"]["template"]["spec"]["containers"][0]
    container["resources"] = {"limits": {"memory": "32Mi"}, "requests": {"memory": "32Mi"}}
    kube.create(ns, oom)
    kube.create(ns, real_task("slow", "sleep 600", timeoutSeconds=3, maxRetries=0))
    missing = real_task("noimage", "true", maxRetries=0)
    # Never pulled: the node has no such image, and a pull from a registry is never attempted.
    missing["spec"]["payload"]["spec"]["template"]["spec"]["containers"][0].update(
        image="localhost/taskops/missing:1", imagePullPolicy="Never"
    )
    kube.create(ns, missing)
    for name in ("oom", "slow", "noimage"):
        kube.create(ns, builders.run(f"{name}-1", name))
    expected = {"oom-1": "crashed", "slow-1": "timeout", "noimage-1": "start_failed"}
    for name, reason in expected.items():
        run = kube.wait_run_phase(ns, name, ENDED, timeout=TIMEOUT)
        assert (run["status"]["phase"], run["status"]["endReason"]) == ("FAILED", reason), run["status"]
    assert "OOMKilled" in kube.run(ns, "oom-1")["status"]["message"]
    assert kube.run(ns, "oom-1")["status"]["exitCode"] == 137
    assert "ErrImageNeverPull" in kube.run(ns, "noimage-1")["status"]["message"]


def test_follow_streams_a_running_containers_output_line_by_line(api: Caller, kube: Kube, ns: str) -> None:
    """GET /runs/{id}/logs?follow=true: each line of a real container arrives while it still runs."""
    kube.create(ns, real_task("ticker", "for i in 1 2 3 4 5 6; do echo tick-$i; sleep 1; done", maxRetries=0))
    kube.create(ns, builders.run("ticker-1", "ticker"))
    kube.wait_run_phase(ns, "ticker-1", {"RUNNING"}, timeout=TIMEOUT)

    def follow() -> requests.Response | None:
        resp = api.get("/api/v1/runs/ticker-1/logs", params={"follow": "true"}, stream=True)
        if resp.status_code == 200:
            return resp
        resp.close()
        return None

    arrivals: list[tuple[float, str]] = []
    with wait_for(follow, 30, what="the log stream") as stream:
        for line in stream.iter_lines():
            arrivals.append((time.monotonic(), line.decode()))
            if line == b"tick-6":
                break
    assert [text for _, text in arrivals] == [f"tick-{i}" for i in range(1, 7)]
    # Streamed, not read at the end: the last lines arrived about a second apart (the first ones may
    # come together if the stream opened a little late).
    assert arrivals[-1][0] - arrivals[-3][0] >= 1.5, arrivals
    assert kube.wait_run_phase(ns, "ticker-1", ENDED, timeout=TIMEOUT)["status"]["phase"] == "SUCCEEDED"
