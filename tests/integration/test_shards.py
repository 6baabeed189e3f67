"""The operator sharded by namespace (issue 22): 2 and 3 shards on the real control plane, each shard's
leader a real process with its own Lease. Every Run is handled exactly once (one Job), by its namespace's
shard only; an Agent's capacity holds; and a shard whose leader is SIGKILLed is taken over by its own standby
within the lease duration while the other shards' leaders go on undisturbed (their Leases never change hands).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from devcluster.cluster import Cluster, free_port
from taskops.domain.leadership.shards import Shard, shard_of
from tests import builders
from tests.chaos.checks import run_violations
from tests.integration.controlplane import OPERATOR_ARGS
from tests.integration.kube import Kube, wait_for
from tests.integration.processes import LEASE_NS, OperatorProcess, healthy, metric
from tests.paths import OUTPUT

DURATION = 8  # a renew deadline of 5 s: on a loaded 2-core machine a 4 s lease can lapse at start
RUNS_PER_NS = 6
CAPACITY = 1
ENDED_OK = 'taskops_runs_ended_total{end_reason="success"'


def lease(cluster: Cluster, name: str) -> tuple[str, str]:
    """(holder, transitions) of a Lease, ("", "") before it exists."""
    out = cluster.kubectl(
        "get", "lease", name, "-n", LEASE_NS, "-o",
        "jsonpath={.spec.holderIdentity} {.spec.leaseTransitions}", check=False,
    )  # fmt: skip
    holder, _, transitions = out.strip().partition(" ")
    return holder, transitions


@dataclass
class Sharded:
    count: int
    base: str
    namespaces: list[str]  # namespaces[i] is owned by shard i
    procs: dict[str, OperatorProcess] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)

    def lease_name(self, index: int) -> str:
        return Shard(index, self.count).lease_name(self.base)


def namespaces_one_per_shard(count: int) -> list[str]:
    """Fresh namespace names, the i-th owned by shard i (what the operators compute)."""
    found: dict[int, str] = {}
    while len(found) < count:
        name = f"shard-{uuid.uuid4().hex[:8]}"
        found.setdefault(shard_of(name, count), name)
    return [found[i] for i in range(count)]


def terminating_namespaces(cluster: Cluster) -> list[str]:
    out = cluster.kubectl(
        "get", "namespaces", "-o", 'jsonpath={range .items[*]}{.metadata.name} {.status.phase}{"\\n"}{end}'
    )
    return [line.split()[0] for line in out.splitlines() if line.endswith(" Terminating")]


@pytest.fixture(params=[2, 3], ids=["2-shards", "3-shards"])
def sharded(request: pytest.FixtureRequest, cluster: Cluster, operator: OperatorProcess) -> Iterator[Sharded]:
    """A leader per shard and a standby for shard 0, the session's unsharded operator stopped meanwhile (its
    fixture restarts it after)."""
    count = int(request.param)
    operator.stop()
    # The shards act on every namespace whose hash is theirs: the Runs of earlier tests' namespaces, still being
    # deleted, would be ended by them too and counted in the per-shard metrics this test compares.
    wait_for(lambda: not terminating_namespaces(cluster), 180, what="earlier tests' namespaces to be deleted")
    out = Sharded(count, f"shards-{uuid.uuid4().hex[:6]}", namespaces_one_per_shard(count))
    for name in out.namespaces:
        cluster.kubectl("create", "namespace", name)
    for name in out.namespaces:
        cluster.wait_namespace_ready(name)

    def start(pod: str, index: int) -> None:
        out.ports[pod] = free_port()
        out.procs[pod] = OperatorProcess(
            operator.kubeconfig,
            OUTPUT / "logs",
            name=f"operator-{out.base}-{pod}",
            args=(
                *OPERATOR_ARGS,
                "--leader-elect",
                f"--lease-namespace={LEASE_NS}",
                f"--lease-name={out.base}",
                f"--lease-duration-seconds={DURATION}",
                f"--metrics-port={out.ports[pod]}",
                f"--shard={index}/{count}",
            ),
        )
        out.procs[pod].start(env={"POD_NAME": pod})

    try:
        for i in range(count):
            start(f"s{i}-a", i)
        for i in range(count):
            wait_for(lambda i=i: lease(cluster, out.lease_name(i))[0] == f"s{i}-a", 60,  # type: ignore[misc]
                     what=f"shard {i}'s leader")  # fmt: skip
        start("s0-b", 0)  # after s0-a leads: the standby
        wait_for(lambda: healthy(out.ports["s0-b"], "healthz"), 60, what="the standby")
        yield out
    finally:
        failed = getattr(getattr(request.node, "rep_call", None), "failed", False)
        for pod, proc in out.procs.items():
            if failed:
                print(f"\n--- {pod} log (tail) ---\n{proc.tail(30)}")
            proc.stop()
        for name in out.namespaces:
            cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def test_each_shard_handles_its_namespaces_once_and_a_killed_leader_hands_over_only_its_shard(
    cluster: Cluster, kube: Kube, sharded: Sharded
) -> None:
    count, namespaces = sharded.count, sharded.namespaces
    for ns in namespaces:
        # One Agent per namespace: its capacity is counted by the one shard that owns the namespace.
        kube.create(ns, builders.agent("pool", CAPACITY, jobDefaults={"nodeSelector": {"type": "kwok"}}))
        kube.create(ns, builders.task("t", pod_annotations=builders.pod_behaviour(duration="1s"), maxRetries=0,
                                      agent="pool"))  # fmt: skip
    names = [f"r{i}" for i in range(RUNS_PER_NS)]
    half = RUNS_PER_NS // 2
    for name in names[:half]:
        for ns in namespaces:
            kube.create(ns, builders.run(name, "t"))
    # Every shard's leader works its own namespace before the kill.
    for i in range(count):
        port = sharded.ports[f"s{i}-a"]
        wait_for(lambda port=port: metric(port, ENDED_OK) >= 1, 60, what=f"shard {i} ending a run")  # type: ignore[misc]
    assert metric(sharded.ports["s0-b"], "taskops_leader") == 0, "the standby waits"
    before = {i: lease(cluster, sharded.lease_name(i)) for i in range(1, count)}

    killed_at = time.monotonic()
    sharded.procs["s0-a"].kill()
    for name in names[half:]:
        for ns in namespaces:
            kube.create(ns, builders.run(name, "t"))
    wait_for(lambda: lease(cluster, sharded.lease_name(0))[0] == "s0-b", 3 * DURATION, what="the standby to lead")
    assert time.monotonic() - killed_at <= DURATION + 4, "hand-over within the lease duration (plus a retry)"

    for ns in namespaces:
        for name in names:
            kube.wait_run_phase(ns, name, {"SUCCEEDED"}, timeout=120)
    for ns in namespaces:
        jobs = sorted(j.metadata.name for j in kube.jobs(ns))
        assert jobs == sorted(f"{n}-1" for n in names), f"exactly one Job per Run in {ns}"
        runs = kube.runs(ns)
        assert run_violations(runs, {"t": "pool"}, {"pool": CAPACITY}) == 0, f"the Agent's capacity held in {ns}"
    # Only shard 0 changed hands; the other leaders kept their Leases throughout and ended exactly their own
    # namespace's Runs (a leader acting on another shard's namespace would have ended more).
    for i in range(1, count):
        assert lease(cluster, sharded.lease_name(i)) == before[i], f"shard {i}'s Lease never changed hands"
        assert metric(sharded.ports[f"s{i}-a"], ENDED_OK) == RUNS_PER_NS, f"shard {i} ended only its own Runs"
    assert metric(sharded.ports["s0-b"], "taskops_leader") == 1
    assert 1 <= metric(sharded.ports["s0-b"], ENDED_OK) <= RUNS_PER_NS, "the standby took over shard 0 only"
