"""Running the operator as a service: leader election hand-over, metrics, health, JSON logs."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from devcluster.cluster import Cluster, free_port
from tests import builders
from tests.integration.controlplane import OPERATOR_ARGS
from tests.integration.kube import Kube, wait_for
from tests.integration.processes import LEASE_NS, OperatorProcess, healthy, metric
from tests.paths import OUTPUT

DURATION = 4


def lease_holder(cluster: Cluster, name: str) -> str:
    out = cluster.kubectl("get", "lease", name, "-n", LEASE_NS, "-o", "jsonpath={.spec.holderIdentity}", check=False)
    return out.strip()


@dataclass
class Contenders:
    lease: str
    procs: dict[str, OperatorProcess]
    ports: dict[str, int]


@pytest.fixture
def contenders(cluster: Cluster, operator: OperatorProcess) -> Iterator[Contenders]:
    """Two electing operators, the session's one stopped meanwhile (its fixture restarts it after)."""
    operator.stop()
    out = Contenders(f"lease-{int(time.time() * 1000)}", {}, {})
    for name in ("alpha", "beta"):
        out.ports[name] = free_port()
        out.procs[name] = OperatorProcess(
            operator.kubeconfig,
            OUTPUT / "logs",
            name=f"operator-{name}",
            args=(
                *OPERATOR_ARGS,
                "--leader-elect",
                f"--lease-namespace={LEASE_NS}",
                f"--lease-name={out.lease}",
                f"--lease-duration-seconds={DURATION}",
                f"--metrics-port={out.ports[name]}",
                "--log-format=json",
            ),
        )
        out.procs[name].start(env={"POD_NAME": name})
    try:
        yield out
    finally:
        for proc in out.procs.values():
            proc.stop()


def test_leader_hands_over_after_sigkill_without_duplicating_a_job(
    cluster: Cluster,
    kube: Kube,
    ns: str,
    contenders: Contenders,
) -> None:
    lease = contenders.lease
    leader = wait_for(lambda: lease_holder(cluster, lease), timeout=30, what="a leader")
    follower = "beta" if leader == "alpha" else "alpha"
    leader_proc, leader_port = contenders.procs[leader], contenders.ports[leader]
    follower_port = contenders.ports[follower]
    # Both serve health; the standby is ready too (it serves and waits), and only the leader says so in metrics.
    for port in (leader_port, follower_port):
        wait_for(lambda port=port: healthy(port, "healthz"), 30, what=f"/healthz on {port}")  # type: ignore[misc]
    wait_for(lambda: healthy(leader_port, "readyz"), 30, what="the leader to be ready")
    assert healthy(follower_port, "readyz"), "a standby is ready: it serves and waits"
    assert metric(leader_port, "taskops_leader") == 1 and metric(follower_port, "taskops_leader") == 0

    kube.create(ns, builders.task("t", pod_annotations=builders.pod_behaviour(duration="1s")))
    names = [f"r{i}" for i in range(24)]
    for name in names[:12]:
        kube.create(ns, builders.run(name, "t"))
        time.sleep(0.15)
    wait_for(lambda: metric(leader_port, 'taskops_runs_ended_total{end_reason="success"') >= 1, 60, what="ends")
    killed_at = time.monotonic()
    leader_proc.kill()
    for name in names[12:]:
        kube.create(ns, builders.run(name, "t"))
        time.sleep(0.15)
    wait_for(lambda: lease_holder(cluster, lease) == follower, timeout=3 * DURATION, what="the follower to lead")
    assert time.monotonic() - killed_at <= DURATION + 4, "hand-over within the lease duration (plus a retry)"
    for name in names:
        kube.wait_run_phase(ns, name, {"SUCCEEDED"}, timeout=90)
    jobs = [j.metadata.name for j in kube.jobs(ns)]
    assert sorted(jobs) == sorted(f"{n}-1" for n in names), "exactly one Job per Run"
    # The new leader's counters moved as its runs ended.
    assert metric(follower_port, "taskops_leader") == 1
    assert metric(follower_port, 'taskops_runs_ended_total{end_reason="success"') >= 1
    assert metric(follower_port, "taskops_run_duration_seconds_count") >= 1
    # Logs are JSON lines carrying the run they are about.
    lines = [
        json.loads(line)
        for line in contenders.procs[follower].log_file.read_text().splitlines()
        if line.startswith("{")
    ]
    assert lines and all({"time", "level", "logger", "message"} <= line.keys() for line in lines)


def test_a_leader_stopped_with_sigterm_releases_its_lease_at_once(cluster: Cluster, contenders: Contenders) -> None:
    """A rollout (`helm upgrade`) stops the old leader with SIGTERM: it stops acting and frees the Lease, so the new
    replica leads in seconds, not after the lease duration, and the old flags stop applying."""
    lease = contenders.lease
    leader = wait_for(lambda: lease_holder(cluster, lease), timeout=30, what="a leader")
    follower = "beta" if leader == "alpha" else "alpha"
    wait_for(lambda: healthy(contenders.ports[leader], "readyz"), 30, what="the leader to be ready")
    stopped_at = time.monotonic()
    proc = contenders.procs[leader]
    assert proc.proc is not None
    proc.proc.terminate()
    wait_for(lambda: lease_holder(cluster, lease) == follower, timeout=3 * DURATION, what="the follower to lead")
    handed = time.monotonic() - stopped_at
    assert proc.wait_exit(10) == 0, proc.tail()
    exited = time.monotonic() - stopped_at
    assert handed < DURATION, f"hand-over took {handed:.1f} s (the process exited after {exited:.1f} s): not released"
    assert "the lease is released" in proc.log_file.read_text()
