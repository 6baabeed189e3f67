"""Execution semantics on the real control plane: params, retries with backoff, failure taxonomy, results."""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

from tests import builders
from tests.integration.kube import Kube, wait_for
from tests.integration.processes import OperatorProcess
from tests.integration.timing import parse_time

ENDED = {"SUCCEEDED", "FAILED", "STOPPED", "INVALID", "PARTIAL_SUCCEEDED"}


def jobs_of(kube: Kube, ns: str, run: str) -> list[Any]:
    jobs = [j for j in kube.jobs(ns) if (j.metadata.labels or {}).get("taskops.dev/run") == run]
    return sorted(jobs, key=lambda j: j.metadata.name)


def test_bad_params_make_the_run_invalid_and_no_job(kube: Kube, operator: OperatorProcess, ns: str) -> None:
    kube.create(
        ns,
        builders.task(
            "p", params=[{"name": "order_id", "type": "string", "required": True}, {"name": "limit", "type": "integer"}]
        ),
    )
    kube.create(ns, builders.run("p-1", "p", params={"limit": "ten", "colour": "red"}))
    run = kube.wait_run_phase(ns, "p-1", ENDED)
    assert (run["status"]["phase"], run["status"]["endReason"]) == ("INVALID", "invalid")
    valid = next(c for c in run["status"]["conditions"] if c["type"] == "Valid")
    assert valid["reason"] == "InvalidParams"
    for part in (
        "spec.params.colour: unknown parameter",
        "spec.params.order_id: required parameter is missing",
        'spec.params.limit: must be of type integer (got "ten")',
    ):
        assert part in valid["message"]
    assert jobs_of(kube, ns, "p-1") == []
    assert any(e.reason == "InvalidParams" for e in kube.events_for(ns, "p-1"))


def test_null_empty_and_absent_params_reach_the_container(kube: Kube, operator: OperatorProcess, ns: str) -> None:
    kube.create(
        ns,
        builders.task(
            "q",
            params=[
                {"name": "a", "type": "string", "default": "A"},
                {"name": "b", "type": "string", "default": "B"},
                {"name": "c", "type": "string", "default": "C"},
                {"name": "n", "type": "integer", "default": 1},
            ],
        ),
    )
    kube.create(ns, builders.run("q-1", "q", params={"a": None, "b": "", "n": 7}))
    stored = kube.run(ns, "q-1")
    assert stored["spec"]["params"] == {"a": None, "b": "", "n": 7}, "the API server kept the null"
    run = kube.wait_run_phase(ns, "q-1", ENDED)
    assert run["status"]["phase"] == "SUCCEEDED"
    assert run["status"]["params"] == {"b": "", "c": "C", "n": 7}
    pod_spec = jobs_of(kube, ns, "q-1")[0].spec.template
    env = {e.name: e.value for e in pod_spec.spec.containers[0].env}
    assert "TASKOPS_PARAM_A" not in env
    assert env["TASKOPS_PARAM_B"] == "" or env["TASKOPS_PARAM_B"] is None  # the client reads "" back as None
    assert env["TASKOPS_PARAM_C"] == "C" and env["TASKOPS_PARAM_N"] == "7"
    assert json.loads(pod_spec.metadata.annotations["taskops.dev/params"])["params"] == {"b": "", "c": "C", "n": 7}


def test_fails_twice_then_succeeds_with_backoff(kube: Kube, operator: OperatorProcess, ns: str) -> None:
    kube.create(
        ns,
        builders.task(
            "flaky",
            pod_annotations={"kwok.taskops.dev/fail-attempts": "2", "kwok.taskops.dev/duration": "200ms"},
            maxRetries=3,
            backoffStrategy="linear",
            backoffSeconds=2,
        ),
    )
    kube.create(ns, builders.run("flaky-1", "flaky"))
    run = kube.wait_run_phase(ns, "flaky-1", ENDED, timeout=60)
    status = run["status"]
    assert status["phase"] == "SUCCEEDED" and status["attempt"] == 3
    assert [j.metadata.name for j in jobs_of(kube, ns, "flaky-1")] == ["flaky-1-1", "flaky-1-2", "flaky-1-3"]
    attempts = status["attempts"]
    assert [(a["number"], a["endReason"]) for a in attempts] == [(1, "failed"), (2, "failed"), (3, "success")]
    assert status["retryOf"] == "flaky-1-2"
    # linear: 2 s after attempt 1, 4 s after attempt 2 (timestamps with sub-second precision).
    gap1 = parse_time(attempts[1]["startTime"]) - parse_time(attempts[0]["endTime"])
    gap2 = parse_time(attempts[2]["startTime"]) - parse_time(attempts[1]["endTime"])
    assert dt.timedelta(seconds=2) <= gap1 < dt.timedelta(seconds=3.5), gap1
    assert dt.timedelta(seconds=4) <= gap2 < dt.timedelta(seconds=5.5), gap2
    steps = [s["step"] for s in status["history"]]
    assert steps[:2] == ["validated", "job_created"] and steps[-1] == "ended"
    assert steps.count("retry_scheduled") == 2
    assert sum(1 for e in kube.events_for(ns, "flaky-1") if e.reason == "RetryScheduled") == 2


def test_retry_survives_an_operator_kill_during_backoff(kube: Kube, operator: OperatorProcess, ns: str) -> None:
    kube.create(
        ns,
        builders.task(
            "once-more",
            pod_annotations={"kwok.taskops.dev/fail-attempts": "1", "kwok.taskops.dev/duration": "200ms"},
            maxRetries=1,
            backoffStrategy="fixed",
            backoffSeconds=6,
        ),
    )
    kube.create(ns, builders.run("om-1", "once-more"))
    waiting = kube.wait_run_phase(ns, "om-1", {"SCHEDULED"}, timeout=30)
    operator.kill()
    due = parse_time(waiting["status"]["nextAttemptAt"])
    time.sleep(2)
    operator.start()
    run = kube.wait_run_phase(ns, "om-1", ENDED, timeout=30)
    assert run["status"]["phase"] == "SUCCEEDED"
    jobs = jobs_of(kube, ns, "om-1")
    assert [j.metadata.name for j in jobs] == ["om-1-1", "om-1-2"]
    started = parse_time(run["status"]["attempts"][1]["startTime"])
    assert due <= started < due + dt.timedelta(seconds=2), (due, started)


def test_failure_taxonomy(kube: Kube, operator: OperatorProcess, ns: str) -> None:
    kube.create(
        ns, builders.task("slow", pod_annotations=builders.pod_behaviour(hang=True), timeoutSeconds=2, maxRetries=0)
    )
    kube.create(
        ns,
        builders.task("oom", pod_annotations=builders.pod_behaviour(exit_code=137, reason="OOMKilled"), maxRetries=0),
    )
    kube.create(
        ns, builders.task("noimage", pod_annotations={"kwok.taskops.dev/waiting-reason": "ErrImagePull"}, maxRetries=0)
    )
    for name in ("slow", "oom", "noimage"):
        kube.create(ns, builders.run(f"{name}-1", name))
    expected = {"slow-1": "timeout", "oom-1": "crashed", "noimage-1": "start_failed"}
    for name, reason in expected.items():
        run = kube.wait_run_phase(ns, name, ENDED, timeout=60)
        assert (run["status"]["phase"], run["status"]["endReason"]) == ("FAILED", reason), run["status"]
    assert "OOMKilled" in kube.run(ns, "oom-1")["status"]["message"]
    assert "ErrImagePull" in kube.run(ns, "noimage-1")["status"]["message"]
    wait_for(
        lambda: (
            all(j.metadata.deletion_timestamp for j in jobs_of(kube, ns, "noimage-1"))
            or not jobs_of(kube, ns, "noimage-1")
        ),
        20,
        what="the stuck Job to be deleted",
    )


def test_results_are_stored_and_checked(kube: Kube, operator: OperatorProcess, ns: str) -> None:
    schema = {"type": "object", "required": ["rows"], "properties": {"rows": {"type": "integer"}}}
    kube.create(
        ns, builders.task("good", pod_annotations=builders.pod_behaviour(message='{"rows": 42}'), resultSchema=schema)
    )
    kube.create(
        ns,
        builders.task("bad", pod_annotations=builders.pod_behaviour(message='{"rows": "many"}'), resultSchema=schema),
    )
    kube.create(ns, builders.run("good-1", "good"))
    kube.create(ns, builders.run("bad-1", "bad"))
    good = kube.wait_run_phase(ns, "good-1", ENDED)
    assert good["status"]["phase"] == "SUCCEEDED" and good["status"]["result"] == {"rows": 42}
    bad = kube.wait_run_phase(ns, "bad-1", ENDED)
    assert (bad["status"]["phase"], bad["status"]["endReason"]) == ("FAILED", "failed")
    assert bad["status"]["attempt"] == 1, "an invalid result is not retried"
    cond = next(c for c in bad["status"]["conditions"] if c["type"] == "ResultValid")
    assert cond["status"] == "False" and "rows" in cond["message"] and "integer" in cond["message"]


def test_a_run_keeps_its_version_when_the_task_changes(
    cluster: Any, kube: Kube, operator: OperatorProcess, ns: str
) -> None:
    task = builders.task(
        "ver",
        image="app:1",
        pod_annotations={"kwok.taskops.dev/fail-attempts": "1", "kwok.taskops.dev/duration": "200ms"},
        maxRetries=1,
        backoffStrategy="fixed",
        backoffSeconds=4,
    )
    kube.create(ns, task)
    kube.create(ns, builders.run("ver-1", "ver"))
    waiting = kube.wait_run_phase(ns, "ver-1", {"SCHEDULED"}, timeout=30)
    assert waiting["status"]["version"]["number"] == 1
    # The Task moves to version 2 while the run waits for its retry.
    cluster.kubectl(
        "patch",
        "task",
        "ver",
        "-n",
        ns,
        "--type=json",
        "-p",
        json.dumps(
            [{"op": "replace", "path": "/spec/payload/spec/template/spec/containers/0/image", "value": "app:2"}]
        ),
    )
    run = kube.wait_run_phase(ns, "ver-1", ENDED, timeout=30)
    assert run["status"]["phase"] == "SUCCEEDED"
    images = [j.spec.template.spec.containers[0].image for j in jobs_of(kube, ns, "ver-1")]
    assert images == ["app:1", "app:1"]
    revisions = kube.apps.list_namespaced_controller_revision(ns).items
    assert sorted((r.metadata.name, r.revision) for r in revisions) == [("ver-v1", 1), ("ver-v2", 2)]
    assert all(r.metadata.owner_references[0].kind == "Task" for r in revisions)
    task_obj = wait_for(
        lambda: (t := kube.get(ns, "tasks", "ver")) and t["status"].get("activeVersion") == 2 and t,
        10,
        what="activeVersion 2",
    )
    assert task_obj["status"]["activeVersionId"] == "ver-v2"
    # New runs get version 2; an explicit pin gets version 1; an unknown one is invalid.
    kube.create(ns, builders.run("ver-2", "ver"))
    kube.create(ns, builders.run("ver-3", "ver", version="1"))
    kube.create(ns, builders.run("ver-4", "ver", version="7"))
    assert kube.wait_run_phase(ns, "ver-2", ENDED, timeout=30)["status"]["version"]["number"] == 2
    assert kube.wait_run_phase(ns, "ver-3", ENDED, timeout=30)["status"]["version"]["number"] == 1
    bad = kube.wait_run_phase(ns, "ver-4", ENDED)
    assert bad["status"]["phase"] == "INVALID" and 'version "7"' in bad["status"]["message"]


def test_an_oom_kill_is_crashed_even_when_the_job_is_seen_failed_before_its_pod(
    kube: Kube, operator: OperatorProcess, ns: str
) -> None:
    # Found by the chaos suite: Jobs that failed while the operator was down come back through the Job watch,
    # possibly before the Pod watch has listed their pods; the end reason must still come from the pod.
    kube.create(
        ns,
        builders.task(
            "oom",
            pod_annotations=builders.pod_behaviour(duration="1s", exit_code=137, reason="OOMKilled"),
            maxRetries=0,
            failedRunsHistoryLimit=100,
        ),
    )
    names = [f"oom-{i}" for i in range(80)]
    for name in names:
        kube.create(ns, builders.run(name, "oom"))
    wait_for(lambda: len(kube.jobs(ns)) == len(names), 30, what="every Job")
    operator.kill()
    wait_for(
        lambda: all(any(c.type == "Failed" for c in j.status.conditions or []) for j in kube.jobs(ns)),
        30,
        what="every Job to fail while the operator is down",
    )
    operator.start()
    for name in names:
        run = kube.wait_run_phase(ns, name, ENDED, timeout=60)
        assert (run["status"]["phase"], run["status"]["endReason"]) == ("FAILED", "crashed"), run["status"]
