"""Reliability under careless use (issue 18 §5): deleting a Task or an Agent under running Runs.

- `kubectl delete task X --cascade=orphan` finishes: the garbage collector's strategic-merge patch of the Task's
  ControllerRevisions (removing the Task's owner reference) is accepted, because the revisions' `data` is stored
  in the form the API server re-encodes it to. A Run of the deleted Task that had started goes on at its pinned
  version, ends as it would have, and keeps counting against its concurrency key until then.
- An Agent deleted while its Run waits for a retry: the retry's Job still gets the Agent's jobDefaults, recorded
  on the Run when its first attempt started.
- A leader whose API server stops answering (etcd paused) stops leading before its Lease can expire.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from devcluster.cluster import Cluster
from tests import builders
from tests.integration.controlplane import OPERATOR_ARGS
from tests.integration.kube import Kube, wait_for
from tests.integration.processes import OperatorProcess
from tests.integration.timing import ENDED
from tests.paths import OUTPUT

pytestmark = [pytest.mark.integration, pytest.mark.security]

# What Go's encoder writes differently from Python's: `&&` and `<` in a command (HTML-escaped by Go), a
# non-ASCII title, a whole float (1.0 -> 1) and keys the model does not keep sorted.
AWKWARD = {
    "command": ["sh", "-c", "test 1 -lt 2 && echo 'naïve <ok> & done'"],
    "params": [
        {"name": "ratio", "type": "number", "default": 1.0},
        {"name": "tiny", "type": "number", "default": 1.5e-7},
        {"name": "label", "default": "zürich \u2028 <b>"},
    ],
}


def awkward_task(name: str, **spec: Any) -> dict[str, Any]:
    body = builders.task(name, command=AWKWARD["command"], **spec)
    body["spec"]["params"] = AWKWARD["params"]
    body["spec"]["title"] = "déjà vu & co"
    return body


def revision(kube: Kube, ns: str, task: str) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        items = kube.apps.list_namespaced_controller_revision(ns, label_selector=f"taskops.dev/task={task}").items
        return kube.api.sanitize_for_serialization(items[0]) if items else None

    found: dict[str, Any] = wait_for(check, 30, what=f"the revision of task {task}")
    return found


def test_a_strategic_merge_patch_of_a_task_revision_is_accepted(
    cluster: Cluster, kube: Kube, operator: OperatorProcess, ns: str
) -> None:
    kube.create(ns, awkward_task("awkward"))
    name = revision(kube, ns, "awkward")["metadata"]["name"]
    # What the garbage collector does to every dependent of an object deleted with --cascade=orphan.
    cluster.kubectl("patch", "controllerrevision", name, "-n", ns, "--type=strategic",
                    "-p", json.dumps({"metadata": {"labels": {"patched": "yes"}}}))  # fmt: skip
    got = json.loads(cluster.kubectl("get", "controllerrevision", name, "-n", ns, "-o", "json"))
    assert got["metadata"]["labels"]["patched"] == "yes"
    # The stored spec is unchanged by the round trip: the same values, only spelled as Go spells them.
    spec = got["data"]["spec"]
    assert spec["title"] == "déjà vu & co"
    assert spec["payload"]["spec"]["template"]["spec"]["containers"][0]["command"] == AWKWARD["command"]
    assert [p["default"] for p in spec["params"]] == [1, 1.5e-7, "zürich \u2028 <b>"]


def gc_watches(kube: Kube, ns: str, owner: dict[str, Any]) -> None:
    """Wait until the garbage collector deletes a ConfigMap owned by `owner` once it is deleted.

    The controller-manager finds new CRDs by rediscovery (every 30 s): until then it does not watch Tasks or
    Runs, and an orphaning delete would neither see the Runs as dependents nor wait for them.
    """
    created = kube.create(ns, owner)
    ref = {"apiVersion": builders.API, "kind": owner["kind"], "name": owner["metadata"]["name"],
           "uid": created["metadata"]["uid"]}  # fmt: skip
    name = f"gc-probe-{owner['kind'].lower()}"
    kube.core.create_namespaced_config_map(ns, {"metadata": {"name": name, "ownerReferences": [ref]}})
    kube.delete(ns, f"{owner['kind'].lower()}s", owner["metadata"]["name"])

    def gone() -> bool:
        return not [c for c in kube.core.list_namespaced_config_map(ns).items if c.metadata.name == name]

    wait_for(gone, 60, interval=1, what=f"the garbage collector to handle {owner['kind']}s")


def test_orphan_deletion_of_a_task_finishes_and_its_running_run_ends_within_its_limit(
    cluster: Cluster, kube: Kube, operator: OperatorProcess, ns: str
) -> None:
    gc_watches(kube, ns, builders.task("gc-probe"))
    gc_watches(kube, ns, builders.run("gc-probe", "gc-probe"))
    limited = {"concurrencyKey": "db", "concurrencyLimit": 1, "maxRetries": 0}
    kube.create(ns, awkward_task("old", pod_annotations=builders.pod_behaviour(duration="8s"), **limited))
    kube.create(ns, builders.task("other", pod_annotations=builders.pod_behaviour(duration="1s"), **limited))
    revision(kube, ns, "old")
    kube.create(ns, builders.run("first", "old"))
    kube.wait_run_phase(ns, "first", {"RUNNING"}, timeout=30)

    cluster.kubectl("delete", "task", "old", "-n", ns, "--cascade=orphan", "--timeout=30s")
    assert kube.get(ns, "tasks", "old") is None
    orphaned = revision(kube, ns, "old")
    assert not orphaned["metadata"].get("ownerReferences"), "the revision kept the deleted Task as its owner"

    # The orphaned Run's Job still holds the key: a Run of another Task on it waits.
    kube.create(ns, builders.run("second", "other"))
    second = kube.wait_run_phase(ns, "second", {"BLOCKED", "QUEUED", *ENDED}, timeout=30)
    first = kube.run(ns, "first")
    assert first["status"]["phase"] == "RUNNING", first["status"]
    assert second["status"]["phase"] in {"BLOCKED", "QUEUED"}, second["status"]

    first = kube.wait_run_phase(ns, "first", ENDED, timeout=60)
    assert first["status"]["phase"] == "SUCCEEDED", first["status"]
    assert not first["metadata"].get("ownerReferences")
    second = kube.wait_run_phase(ns, "second", ENDED, timeout=60)
    assert second["status"]["phase"] == "SUCCEEDED", second["status"]
    assert second["status"]["admittedAt"] >= first["status"]["endTime"]


TOLERATION = {"key": "taskops.dev/pool", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}


def test_a_retry_after_its_agent_is_deleted_keeps_the_agents_job_defaults(
    kube: Kube, operator: OperatorProcess, ns: str
) -> None:
    kube.create(ns, builders.agent("gpu", jobDefaults={"tolerations": [TOLERATION]}))
    # Attempt 1 fails after 3 s; attempt 2 (2 s of backoff later) succeeds.
    behaviour = {**builders.pod_behaviour(duration="3s"), "kwok.taskops.dev/fail-attempts": "1"}
    kube.create(ns, builders.task("train", pod_annotations=behaviour, agent="gpu", maxRetries=1,
                                  backoffSeconds=2, backoffStrategy="fixed"))  # fmt: skip
    kube.create(ns, builders.run("r", "train"))
    kube.wait_run_phase(ns, "r", {"RUNNING"}, timeout=30)
    kube.delete(ns, "agents", "gpu")
    wait_for(lambda: kube.get(ns, "agents", "gpu") is None, 10, what="the agent to be deleted")

    run = kube.wait_run_phase(ns, "r", ENDED, timeout=60)
    assert run["status"]["phase"] == "SUCCEEDED", run["status"]
    assert run["status"]["attempt"] == 2
    jobs = {j.metadata.labels["taskops.dev/attempt"]: j for j in kube.jobs(ns)}
    for attempt in ("1", "2"):
        tolerations = [kube.api.sanitize_for_serialization(t) for t in jobs[attempt].spec.template.spec.tolerations]
        assert TOLERATION in tolerations, f"attempt {attempt}'s Job lacks the agent's toleration: {tolerations}"
    assert run["status"]["agentJobDefaults"] == {"tolerations": [TOLERATION]}


LEASE_DURATION = 4  # the operator's renew deadline is 2/3 of it


def test_a_leader_cut_off_from_etcd_stops_leading_before_its_lease_expires(
    cluster: Cluster, operator: OperatorProcess
) -> None:
    """An etcd stall longer than the lease: a follower could take the Lease once the stall ends and it has seen
    no renewal for the duration, so by then the old leader must have stopped (it exits; Kubernetes restarts it
    as a follower). With the client's 30 s request timeout, the renewal just hung and the leader acted on."""
    lease = f"stall-{int(time.time() * 1000)}"
    proc = OperatorProcess(operator.kubeconfig, OUTPUT / "logs", name="operator-stall",
                           args=(*OPERATOR_ARGS, "--leader-elect", "--lease-namespace=taskops-system",
                                 f"--lease-name={lease}", f"--lease-duration-seconds={LEASE_DURATION}"))  # fmt: skip
    proc.start(env={"POD_NAME": "stall"})
    try:
        holder = ["get", "lease", lease, "-n", "taskops-system", "-o", "jsonpath={.spec.holderIdentity}"]
        wait_for(lambda: cluster.kubectl(*holder, check=False).strip() == "stall", 30, what="the operator to lead")
        time.sleep(1)  # a renewal or two
        with cluster.etcd_paused():
            paused_at = time.monotonic()
            wait_for(lambda: not proc.running(), LEASE_DURATION + 2, interval=0.1, what="the leader to stop")
            stopped_after = time.monotonic() - paused_at
        assert stopped_after < LEASE_DURATION, f"still leading {stopped_after:.1f} s into the stall"
        assert "lost" in proc.tail(20)
    finally:
        proc.stop()
