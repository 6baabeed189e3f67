"""Schedules on the real control plane: on-time fires, missed fires, overlap, lifecycle, history."""

from __future__ import annotations

import datetime as dt
import itertools
import time
from typing import Any

import pytest

from devcluster.cluster import Cluster
from taskops.domain.resources.phases import EndReason
from taskops.domain.resources.task import Task
from taskops.domain.scheduling.firedruns import build_scheduled_run
from tests import builders
from tests.integration.api import Caller
from tests.integration.kube import Kube, wait_for
from tests.integration.processes import OperatorProcess
from tests.integration.timing import parse_time
from tests.paths import OUTPUT

UTC = dt.UTC


def scheduled(kube: Kube, ns: str, task: str) -> list[dict[str, Any]]:
    runs = [r for r in kube.runs(ns) if r["spec"]["taskRef"]["name"] == task and r["spec"].get("scheduledTime")]
    return sorted(runs, key=lambda r: r["spec"]["scheduledTime"])


def phase(run: dict[str, Any]) -> tuple[str | None, str | None]:
    status = run.get("status") or {}
    return status.get("phase"), status.get("endReason")


def patch_task(cluster: Cluster, ns: str, name: str, spec: dict[str, Any], check: bool = True) -> str:
    import json

    return cluster.kubectl(
        "patch", "task", name, "-n", ns, "--type=merge", "-p", json.dumps({"spec": spec}), check=check
    )


def test_seconds_cron_fires_on_time_and_names_runs_by_time(kube: Kube, operator: OperatorProcess, ns: str) -> None:
    kube.create(ns, builders.task("tick", scheduleKind="cron", scheduleExpr="*/2 * * * * *"))
    runs = wait_for(lambda: (r := scheduled(kube, ns, "tick")) and len(r) >= 4 and r, 20, what="four fires")
    times = [parse_time(r["spec"]["scheduledTime"]) for r in runs[:4]]
    assert all(t.second % 2 == 0 and t.microsecond == 0 for t in times)
    assert [(b - a).total_seconds() for a, b in itertools.pairwise(times)] == [2.0, 2.0, 2.0]
    for run, t in zip(runs, times, strict=False):
        assert run["metadata"]["name"] == f"tick-{t:%Y%m%d-%H%M%S}"
        assert run["spec"]["triggeredBy"] == "cron"
        created = parse_time(run["metadata"]["creationTimestamp"])
        # creationTimestamp has one-second resolution: "on time" is within that second.
        assert dt.timedelta(0) <= created - t <= dt.timedelta(seconds=1), (created, t)
    for run in runs[:3]:
        kube.wait_run_phase(ns, run["metadata"]["name"], {"SUCCEEDED"}, timeout=20)
    task = kube.get(ns, "tasks", "tick")
    assert task is not None
    status = task["status"]
    assert parse_time(status["nextRunAt"]) > parse_time(status["lastScheduleTime"])
    assert next(c for c in status["conditions"] if c["type"] == "ScheduleValid")["status"] == "True"


def test_missed_fires_follow_the_policy_after_a_restart(kube: Kube, operator: OperatorProcess, ns: str) -> None:
    # Fires every 20 s; the operator is down across two of them and comes back 12-18 s after the second.
    for policy in ("skip", "run_once"):
        kube.create(
            ns,
            builders.task(
                f"m-{policy.replace('_', '-')}", scheduleKind="cron", scheduleExpr="*/20 * * * * *", missedPolicy=policy
            ),
        )
    wait_for(lambda: scheduled(kube, ns, "m-skip") and scheduled(kube, ns, "m-run-once"), 30, what="a first fire")
    now = dt.datetime.now(UTC)
    first_down = now.replace(microsecond=0) + dt.timedelta(seconds=20 - now.second % 20)
    if (first_down - now).total_seconds() < 3:  # too close to a fire to stop before it
        first_down += dt.timedelta(seconds=20)
    operator.kill()
    second = first_down + dt.timedelta(seconds=20)
    time.sleep(max(0.0, (second - dt.datetime.now(UTC)).total_seconds() + 12))
    operator.start()

    def records(task: str) -> list[tuple[str | None, str | None]] | None:
        runs = [r for r in scheduled(kube, ns, task) if parse_time(r["spec"]["scheduledTime"]) in (first_down, second)]
        got = [phase(r) for r in runs]
        return got if len(got) == 2 and all(p[0] for p in got) else None

    skip = wait_for(lambda: records("m-skip"), 20, what="the skip policy's records")
    assert skip == [("STOPPED", "missed"), ("STOPPED", "missed")]
    once = wait_for(lambda: records("m-run-once"), 20, what="the run_once policy's runs")
    assert once[0] == ("STOPPED", "missed")
    assert once[1][0] in ("RUNNING", "SUCCEEDED")
    late = next(r for r in scheduled(kube, ns, "m-run-once") if parse_time(r["spec"]["scheduledTime"]) == second)
    kube.wait_run_phase(ns, late["metadata"]["name"], {"SUCCEEDED"}, timeout=20)


def test_overlap_skip_and_replace(kube: Kube, operator: OperatorProcess, ns: str) -> None:
    hang = builders.pod_behaviour(hang=True)
    kube.create(
        ns,
        builders.task(
            "ov-skip", pod_annotations=hang, scheduleKind="cron", scheduleExpr="*/3 * * * * *", overlapPolicy="skip"
        ),
    )
    kube.create(
        ns,
        builders.task(
            "ov-replace",
            pod_annotations=hang,
            scheduleKind="cron",
            scheduleExpr="*/3 * * * * *",
            overlapPolicy="replace",
        ),
    )

    def settled(task: str) -> list[dict[str, Any]] | None:
        runs = scheduled(kube, ns, task)
        return runs if len(runs) >= 3 and all(phase(r)[0] for r in runs[:3]) else None

    skip_runs = wait_for(lambda: settled("ov-skip"), 30, what="three ov-skip fires")
    assert phase(skip_runs[0])[0] == "RUNNING"
    assert all(phase(r) == ("STOPPED", "skipped") for r in skip_runs[1:3])
    assert skip_runs[0]["metadata"]["name"] in skip_runs[1]["status"]["message"]

    replace_runs = wait_for(lambda: settled("ov-replace"), 30, what="three ov-replace fires")
    first = kube.wait_run_phase(ns, replace_runs[0]["metadata"]["name"], {"STOPPED"}, timeout=15)
    assert phase(first) == ("STOPPED", "stopped")
    assert "replaced" in first["status"]["message"]
    # Only the newest is going; the stopped Run's Job is gone.
    time.sleep(1)
    going = [r for r in scheduled(kube, ns, "ov-replace") if phase(r)[0] == "RUNNING"]
    assert len(going) == 1
    jobs = {j.metadata.name for j in kube.jobs(ns) if j.metadata.deletion_timestamp is None}
    assert f"{replace_runs[0]['metadata']['name']}-1" not in jobs


def test_pause_resume_and_cancel_is_final(cluster: Cluster, kube: Kube, operator: OperatorProcess, ns: str) -> None:
    kube.create(
        ns, builders.task("life", scheduleKind="cron", scheduleExpr="*/2 * * * * *", missedPolicy="skip", maxCatchUp=1)
    )
    wait_for(lambda: scheduled(kube, ns, "life"), 10, what="a first fire")
    patch_task(cluster, ns, "life", {"state": "paused"})
    time.sleep(1)
    count = len(scheduled(kube, ns, "life"))
    time.sleep(5)
    assert len(scheduled(kube, ns, "life")) == count, "a paused task fired"
    task = kube.get(ns, "tasks", "life")
    assert task is not None and "nextRunAt" not in task["status"]

    patch_task(cluster, ns, "life", {"state": "active"})
    wait_for(
        lambda: len([r for r in scheduled(kube, ns, "life") if phase(r)[1] != "missed"]) > count,
        10,
        what="fires after resume",
    )
    rows = cluster.kubectl("get", "tasks", "-n", ns).splitlines()
    assert rows[0].split() == ["NAME", "KIND", "SCHEDULE", "STATE", "LAST", "NEXT", "AGE"]

    patch_task(cluster, ns, "life", {"state": "canceled"})
    with pytest.raises(RuntimeError, match="a canceled task cannot be reactivated"):
        patch_task(cluster, ns, "life", {"state": "active"})
    time.sleep(1)
    count = len(scheduled(kube, ns, "life"))
    time.sleep(4)
    assert len(scheduled(kube, ns, "life")) == count, "a canceled task fired"


def test_snooze_moves_the_next_fire(kube: Kube, operator: OperatorProcess, ns: str) -> None:
    until = (dt.datetime.now(UTC) + dt.timedelta(seconds=6)).replace(microsecond=500000)
    kube.create(
        ns,
        builders.task(
            "snoozy",
            scheduleKind="cron",
            scheduleExpr="*/2 * * * * *",
            snooze={"until": until.isoformat(), "reason": "deploy freeze"},
        ),
    )
    task = wait_for(
        lambda: (t := kube.get(ns, "tasks", "snoozy")) and t.get("status", {}).get("snoozedUntil") and t,
        10,
        what="the snooze in the status",
    )
    assert task["status"]["snoozeReason"] == "deploy freeze"
    assert parse_time(task["status"]["nextRunAt"]) == until
    runs = wait_for(lambda: scheduled(kube, ns, "snoozy"), 15, what="the snoozed fire")
    assert (
        parse_time(runs[0]["spec"]["scheduledTime"]) == until.replace(microsecond=0)
        or parse_time(runs[0]["spec"]["scheduledTime"]) == until
    )
    assert parse_time(runs[0]["metadata"]["creationTimestamp"]) >= until.replace(microsecond=0)


def test_history_limits_prune_finished_runs(cluster: Cluster, kube: Kube, operator: OperatorProcess, ns: str) -> None:
    kube.create(
        ns,
        builders.task(
            "hist",
            pod_annotations=builders.pod_behaviour(duration="100ms"),
            scheduleKind="cron",
            scheduleExpr="* * * * * *",
            successfulRunsHistoryLimit=2,
        ),
    )
    first = parse_time(wait_for(lambda: scheduled(kube, ns, "hist"), 10, what="a fire")[0]["spec"]["scheduledTime"])

    def fired_five() -> bool:
        runs = scheduled(kube, ns, "hist")
        return bool(runs) and parse_time(runs[-1]["spec"]["scheduledTime"]) >= first + dt.timedelta(seconds=5)

    wait_for(fired_five, 20, what="five more fires")
    # Pruning follows each Run's end by a moment; stop the fires, then the bound must hold exactly.
    patch_task(cluster, ns, "hist", {"state": "paused"})
    wait_for(
        lambda: all(phase(r)[0] in ("SUCCEEDED", "FAILED") for r in scheduled(kube, ns, "hist")),
        15,
        what="the last runs to end",
    )

    def succeeded() -> list[dict[str, Any]]:
        return [r for r in scheduled(kube, ns, "hist") if phase(r)[0] == "SUCCEEDED"]

    wait_for(lambda: len(succeeded()) <= 2 or None, 10, what="pruning to two successful runs")
    time.sleep(2)
    kept = succeeded()
    assert len(kept) == 2
    newest = sorted(scheduled(kube, ns, "hist"), key=lambda r: r["status"]["endTime"])[-2:]
    assert {r["metadata"]["name"] for r in kept} == {r["metadata"]["name"] for r in newest}


def test_invalid_schedule_is_reported_and_never_fires(
    cluster: Cluster, kube: Kube, operator: OperatorProcess, ns: str
) -> None:
    kube.create(ns, builders.task("bad", scheduleKind="cron", scheduleExpr="61 * * * *"))
    task = wait_for(
        lambda: (t := kube.get(ns, "tasks", "bad")) and t.get("status", {}).get("conditions") and t, 10, what="a status"
    )
    cond = next(c for c in task["status"]["conditions"] if c["type"] == "ScheduleValid")
    assert cond["status"] == "False" and "spec.scheduleExpr" in cond["message"]
    events = wait_for(lambda: [e for e in kube.events_for(ns, "bad") if e.reason == "InvalidSchedule"], 10)
    assert "61 * * * *" in events[0].message
    with pytest.raises(RuntimeError, match="scheduleExpr is required"):
        cluster.kubectl(
            "apply",
            "-n",
            ns,
            "-f",
            "-",
            input=(
                "apiVersion: taskops.dev/v1alpha1\nkind: Task\nmetadata: {name: noexpr}\n"
                "spec: {scheduleKind: cron, payload: {spec: {template: {spec: {containers: []}}}}}\n"
            ),
        )


def test_two_operators_never_duplicate_a_run(kube: Kube, operator: OperatorProcess, ns: str) -> None:
    second = OperatorProcess(operator.kubeconfig, OUTPUT / "logs", name="operator-second", args=operator.args)
    second.start()
    try:
        kube.create(
            ns,
            builders.task(
                "twice",
                scheduleKind="cron",
                scheduleExpr="* * * * * *",
                pod_annotations=builders.pod_behaviour(duration="200ms"),
            ),
        )
        time.sleep(8)
    finally:
        second.stop()
    runs = scheduled(kube, ns, "twice")
    times = [r["spec"]["scheduledTime"] for r in runs]
    assert len(runs) >= 5 and len(times) == len(set(times))
    started = [run for run in runs if phase(run)[0]]
    assert started, "no fired Run was taken up"
    for run in started:
        jobs = [j for j in kube.jobs(ns) if j.metadata.labels.get("taskops.dev/run") == run["metadata"]["name"]]
        assert len(jobs) <= 1


def test_a_dst_skipped_record_shows_its_end_reason_on_the_api(api: Caller, kube: Kube, ns: str) -> None:
    """Issue 23: the record the scheduler makes for a skipped local time ends STOPPED / dst_skipped, on the API too.

    The operator's clock cannot be moved to a DST change here, so the record is created as the scheduler
    creates it (domain.runs.build_scheduled_run, the fire America/New_York skips on 2027-03-14 at 02:30).
    """
    kube.create(
        ns, builders.task("nightly", scheduleKind="cron", scheduleExpr="30 2 * * *", timezone="America/New_York")
    )
    raw = wait_for(lambda: kube.get(ns, "tasks", "nightly"), 10, what="the task")
    task = Task.model_validate(raw)
    gap_end = dt.datetime(2027, 3, 14, 7, 0, tzinfo=UTC)  # 03:00 EDT, where the skipped 02:30 is recorded
    record = build_scheduled_run(task, gap_end, EndReason.DST_SKIPPED, "the local time does not exist (DST)")
    kube.create(ns, record)
    name = record["metadata"]["name"]
    run = kube.wait_run_phase(ns, name, {"STOPPED"}, timeout=20)
    assert phase(run) == ("STOPPED", "dst_skipped")
    got = api.get(f"/api/v1/runs/{run['metadata']['uid']}")
    assert got.status_code == 200, got.text
    body = got.json()
    assert (body["id"], body["status"], body["end_reason"]) == (name, "STOPPED", "dst_skipped")
    assert body["execution_mode"] == "SCHEDULE" and body["triggered_by"] == "cron"
    listed = api.get("/api/v1/runs", params={"task_name": "nightly", "status": "STOPPED"}).json()["items"]
    assert [(r["id"], r["end_reason"]) for r in listed] == [(name, "dst_skipped")]
