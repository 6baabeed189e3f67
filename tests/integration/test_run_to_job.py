"""The first slice on a real control plane: a Run becomes exactly one Job per attempt."""

from __future__ import annotations

import pytest
import yaml

from devcluster.cluster import Cluster
from tests import builders
from tests.integration.kube import Kube, wait_for
from tests.integration.processes import OperatorProcess
from tests.paths import REPO


def _owner(obj_meta: object, kind: str) -> dict[str, object]:
    refs = obj_meta["ownerReferences"] if isinstance(obj_meta, dict) else obj_meta.owner_references  # type: ignore[index]
    ours = [r for r in refs or [] if (r["kind"] if isinstance(r, dict) else r.kind) == kind]
    assert len(ours) == 1, f"expected one {kind} owner, got {refs}"
    r = ours[0]
    return r if isinstance(r, dict) else {"name": r.name, "uid": r.uid, "controller": r.controller}


def test_run_succeeds_with_one_deterministic_job(
    cluster: Cluster, kube: Kube, operator: OperatorProcess, ns: str
) -> None:
    cluster.kubectl("apply", "-n", ns, "-f", str(REPO / "examples" / "hello-task.yaml"))
    cluster.kubectl("create", "-n", ns, "-f", "-", input=yaml.safe_dump(builders.run("hello-1", "hello")))

    run = kube.wait_run_phase(ns, "hello-1", {"SUCCEEDED", "FAILED", "INVALID"})
    status = run["status"]
    assert status["phase"] == "SUCCEEDED", status
    assert status["endReason"] == "success"
    assert status["exitCode"] == 0
    assert status["attempt"] == 1
    assert status["startTime"] and status["endTime"]
    conds = {c["type"]: c for c in status["conditions"]}
    assert conds["Succeeded"]["status"] == "True"
    assert conds["Ended"]["status"] == "True"

    jobs = kube.jobs(ns)
    assert [j.metadata.name for j in jobs] == ["hello-1-1"]
    job_owner = _owner(jobs[0].metadata, "Run")
    assert job_owner["name"] == "hello-1" and job_owner["uid"] == run["metadata"]["uid"]
    task = kube.get(ns, "tasks", "hello")
    assert task is not None
    run_owner = _owner(run["metadata"], "Task")
    assert run_owner["uid"] == task["metadata"]["uid"]

    table = cluster.kubectl("get", "runs", "-n", ns)
    header, row = table.splitlines()[:2]
    assert header.split() == ["NAME", "TASK", "PHASE", "REASON", "EXIT", "MESSAGE", "AGE"]
    assert row.split()[:5] == ["hello-1", "hello", "SUCCEEDED", "success", "0"]
    # One Event for a Run that succeeds first time: it names the Job and the attempt (docs/benchmarks.md, writes).
    events = wait_for(lambda: kube.events_for(ns, "hello-1") or None, 10, what="the Run's Event")
    ended = ("Succeeded", "Job hello-1-1 (attempt 1): completed successfully")
    assert [(e.reason, e.message) for e in events] == [ended]


def test_failing_pod_fails_the_run_with_its_exit_code(kube: Kube, operator: OperatorProcess, ns: str) -> None:
    kube.create(ns, builders.task("fails", pod_annotations=builders.pod_behaviour(exit_code=3), maxRetries=0))
    kube.create(ns, builders.run("fails-1", "fails"))

    run = kube.wait_run_phase(ns, "fails-1", {"SUCCEEDED", "FAILED"})
    assert run["status"]["phase"] == "FAILED"
    assert run["status"]["endReason"] == "failed"
    assert run["status"]["exitCode"] == 3
    assert "exited with code 3" in run["status"]["message"]

    def failed_event() -> list[object]:
        return [e for e in kube.events_for(ns, "fails-1") if e.reason == "Failed" and e.type == "Warning"]

    events = wait_for(failed_event, 10, what="a Failed event")
    assert "exited with code 3" in events[0].message  # type: ignore[attr-defined]


def test_run_of_missing_task_is_invalid_not_a_crash_loop(kube: Kube, operator: OperatorProcess, ns: str) -> None:
    kube.create(ns, builders.run("orphan-1", "no-such-task"))
    run = kube.wait_run_phase(ns, "orphan-1", {"INVALID", "FAILED", "SUCCEEDED"})
    assert run["status"]["phase"] == "INVALID"
    assert run["status"]["endReason"] == "invalid"
    valid = next(c for c in run["status"]["conditions"] if c["type"] == "Valid")
    assert valid["status"] == "False" and valid["reason"] == "TaskNotFound"
    assert '"no-such-task" not found' in valid["message"]
    assert kube.jobs(ns) == []
    assert any(e.reason == "TaskNotFound" for e in kube.events_for(ns, "orphan-1"))
    assert operator.running()


def test_a_job_the_api_server_refuses_ends_the_run_start_failed_without_a_started_event(
    cluster: Cluster, kube: Kube, operator: OperatorProcess, ns: str
) -> None:
    # A quota of zero Jobs: the API server refuses the create with 403 Forbidden, which no retry can change.
    quota = {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": "no-jobs"},
        "spec": {"hard": {"count/jobs.batch": "0"}},
    }
    cluster.kubectl("create", "-n", ns, "-f", "-", input=yaml.safe_dump(quota))
    kube.create(ns, builders.task("refused", maxRetries=2))
    kube.create(ns, builders.run("refused-1", "refused"))

    status = kube.wait_run_phase(ns, "refused-1", {"SUCCEEDED", "FAILED", "INVALID", "STOPPED"})["status"]
    assert (status["phase"], status["endReason"], status["attempt"]) == ("FAILED", "start_failed", 1), status
    assert status["message"].startswith("Job refused-1-1 could not be created: "), status["message"]
    assert "quota" in status["message"]
    assert kube.jobs(ns) == []
    wait_for(
        lambda: "StartFailed" in {e.reason for e in kube.events_for(ns, "refused-1")}, 20, what="a StartFailed event"
    )
    assert "Started" not in {e.reason for e in kube.events_for(ns, "refused-1")}, "no Job was created"


def test_operator_killed_after_job_create_makes_no_second_job(
    cluster: Cluster, kube: Kube, operator: OperatorProcess, ns: str
) -> None:
    operator.stop()
    operator.start(env={"TASKOPS_FAILPOINTS": "after-job-create"})
    kube.create(ns, builders.task("slow", pod_annotations=builders.pod_behaviour(duration="4s")))
    kube.create(ns, builders.run("slow-1", "slow"))

    # The failpoint SIGKILLs the operator the instant the Job exists, before anything else is written.
    operator.wait_exit(timeout=30)
    assert [j.metadata.name for j in kube.jobs(ns)] == ["slow-1-1"]
    operator.start()

    run = kube.wait_run_phase(ns, "slow-1", {"SUCCEEDED", "FAILED"})
    assert run["status"]["phase"] == "SUCCEEDED"
    assert [j.metadata.name for j in kube.jobs(ns)] == ["slow-1-1"]


def test_a_restart_decides_no_run_before_every_cache_is_listed(kube: Kube, operator: OperatorProcess, ns: str) -> None:
    # Before the fix, a Run listed before its Task's versions ended INVALID ("versions 1 to 0"), and one listed
    # before its Task TaskNotFound: the CI met it as a Run made ahead of a fire missed across a restart.
    kube.create(ns, builders.task("late-lists"))
    kube.create(ns, builders.run("late-lists-0", "late-lists"))
    kube.wait_run_phase(ns, "late-lists-0", {"SUCCEEDED"})  # version 1 is written
    operator.stop()
    kube.create(ns, builders.run("pinned", "late-lists", version="1"))
    operator.start(env={"TASKOPS_FAILPOINTS": "slow-list-tasks,slow-list-controllerrevisions"})

    status = kube.wait_run_phase(ns, "pinned", {"SUCCEEDED", "FAILED", "INVALID", "STOPPED"})["status"]
    assert status["phase"] == "SUCCEEDED", status.get("message")
    assert status["version"]["number"] == 1


def test_deleting_the_task_deletes_its_runs_and_jobs(kube: Kube, operator: OperatorProcess, ns: str) -> None:
    kube.create(ns, builders.task("doomed", pod_annotations=builders.pod_behaviour(hang=True)))
    for i in range(2):
        kube.create(ns, builders.run(f"doomed-{i}", "doomed"))
    for i in range(2):
        kube.wait_run_phase(ns, f"doomed-{i}", {"RUNNING"})
    wait_for(lambda: len(kube.jobs(ns)) == 2, 20, what="two jobs")

    kube.delete(ns, "tasks", "doomed")
    wait_for(lambda: not kube.runs(ns), 60, what="the runs to be garbage-collected")
    wait_for(lambda: not kube.jobs(ns), 60, what="the jobs to be garbage-collected")
    wait_for(lambda: not kube.core.list_namespaced_pod(ns).items, 60, what="the pods to be deleted")


def test_kubectl_explain_reads_every_field(cluster: Cluster) -> None:
    out = cluster.kubectl("explain", "task.spec.payload")
    assert "The Job template each Run of this task executes" in out
    out = cluster.kubectl("explain", "run.status.endReason")
    assert "Why the run ended" in out
    assert "tsk" in cluster.kubectl("api-resources", "--api-group=taskops.dev")


def test_names_longer_than_a_label_value_are_refused(kube: Kube, ns: str) -> None:
    from kubernetes.client.rest import ApiException

    for obj in (builders.task("t" * 64), builders.run("r" * 64, "t")):
        with pytest.raises(ApiException) as caught:
            kube.create(ns, obj)
        assert caught.value.status == 422 and "at most 63 characters" in str(caught.value.body)
