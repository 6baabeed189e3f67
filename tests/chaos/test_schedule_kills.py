"""Cron Tasks firing every few seconds while the operator is SIGKILLed at random intervals.

The schedule path creates Runs nobody asked the API for: a fire's Run is made ahead of it and its Job is sent by
the fire worker before any status records it, a fire too close for that makes its Run and Job in one pass, a Task
with a concurrency key or an agent makes its Run at the fire for admission to start, and fires the operator was
down for are decided by `missedPolicy` (docs/schedules.md). Every one of those steps can be cut by a kill.

The Tasks fire on 6-field cron schedules (seconds first) for a window while the operator is killed every few
seconds, just after a whole second (when that second's fires are in flight), and now and then kept down past the
10 s after which a fire is missed; then they are paused. Afterwards, from the schedule alone: every fire time
between a Task's creation and the window's end has exactly one Run (never two Runs nor two Jobs for one fire,
even one deleted and made again), which ended as its missed policy allows (`run_all`: it ran and SUCCEEDED; the
others: SUCCEEDED or recorded `missed`), handled within `LAG` of its fire (of the operator's up time);
nothing is left stuck, no Run is made for a time the schedule does not have, and no limit is exceeded.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from collections import defaultdict
from dataclasses import dataclass, replace
from typing import Any

import pytest

from taskops.domain.resources.names import ANNOTATION_AHEAD
from tests import builders
from tests.chaos.checks import Expected, job_violations, outcome, phase, run_violations
from tests.chaos.jobwatch import JobWatch, RunWatch
from tests.chaos.killer import Killer
from tests.chaos.scale import SCALE, SEED, report
from tests.integration.kube import GROUP, VERSION, Kube
from tests.integration.processes import OperatorProcess
from tests.integration.timing import ENDED, parse_time

HISTORY = 100_000  # no Run is pruned while it is being counted
# No missed fire is dropped (docs/schedules.md, maxCatchUp): each one must have its Run or its record.
CATCH_UP = 1000
# Limits of the keyed Tasks' groups (concurrency keys and an agent); each copy of the Tasks (`SCALE.fire_copies`)
# has groups of its own.
GROUPS = {"key-0": 1, "key-1": 2, "agent-0": 2}
# How late a fire may be handled, counting only the time the operator was running (outages are the missed policy's
# business): its restart (imports, the informers' lists), then the fire. Handled is the Job for a Task without a
# key (the fire sends it: a Run made ahead that its fire never started misses this bound), the Run for a keyed one
# (then it waits for a slot, as long as its group is full, which is admission's business, not the schedule's).
LAG = dt.timedelta(seconds=20)
# How long the operator, no longer killed, has to handle the fires of the window before the Tasks are paused.
CATCH_UP_WAIT = 60.0
RAN = Expected("SUCCEEDED", "success")
MISSED = Expected("STOPPED", "missed")


@dataclass(frozen=True)
class Fires:
    """A Task firing every `step` seconds from second `offset` of each minute (UTC), and what it fires with."""

    name: str
    step: int
    offset: int
    missed: str
    key: str | None = None
    agent: str | None = None

    @property
    def expr(self) -> str:
        return f"{self.offset}-59/{self.step} * * * * *"

    def times(self, after: dt.datetime, until: dt.datetime) -> list[dt.datetime]:
        """The fire times in (after, until], from the expression's meaning, not from the operator's code."""
        seconds = set(range(self.offset, 60, self.step))
        t = after.replace(microsecond=0) + dt.timedelta(seconds=1)
        out = []
        while t <= until:
            if t.second in seconds:
                out.append(t)
            t += dt.timedelta(seconds=1)
        return out


MIX = [
    # No key: each fire's Run is made ahead by the pass after the previous fire, and the fire sends its Job.
    Fires("ahead-5", 5, 0, "run_all"),
    # Irregular over the minute (…, 51, 58, then 2): the 4 s gap is still made ahead, barely (AHEAD_MIN 3 s).
    Fires("ahead-7", 7, 2, "run_all"),
    # Too close for a Run made ahead: the fire makes the Run and its Job in one pass.
    Fires("close-3", 3, 1, "run_all"),
    Fires("skip-4", 4, 3, "skip"),
    Fires("once-6", 6, 0, "run_once"),
    # Keyed: the Run is made at the fire and admission starts it.
    Fires("key-5", 5, 2, "run_all", key="key-0"),
    Fires("agent-4", 4, 1, "run_all", agent="agent-0"),
    Fires("both-6", 6, 4, "run_once", key="key-1", agent="agent-0"),
]


def in_copy(name: str, c: int) -> str:
    return f"{name}-c{c}" if c else name


def copy(fires: Fires, c: int) -> Fires:
    """Copy `c` of a Task of the mix, with groups of its own: the same load on each key and agent at any scale."""
    key, agent = (in_copy(g, c) if g else None for g in (fires.key, fires.agent))
    return replace(fires, name=in_copy(fires.name, c), key=key, agent=agent)


TASKS = [copy(f, c) for c in range(SCALE.fire_copies) for f in MIX]
LIMITS = {in_copy(g, c): n for g, n in GROUPS.items() for c in range(SCALE.fire_copies)}


def create_tasks(kube: Kube, ns: str) -> dict[str, dt.datetime]:
    """The Tasks; → each one's creation time (its first fire is the schedule's first time after it)."""
    for agent in {f.agent for f in TASKS if f.agent}:
        kube.create(ns, builders.agent(agent, LIMITS[agent]))
    created = {}
    for fires in TASKS:
        spec: dict[str, Any] = {
            "scheduleKind": "cron",
            "scheduleExpr": fires.expr,
            "missedPolicy": fires.missed,
            "overlapPolicy": "allow",
            "maxCatchUp": CATCH_UP,
            "maxRetries": 0,
            "successfulRunsHistoryLimit": HISTORY,
            "failedRunsHistoryLimit": HISTORY,
        }
        if fires.key:
            spec |= {"concurrencyKey": fires.key, "concurrencyLimit": LIMITS[fires.key]}
        if fires.agent:
            spec["agent"] = fires.agent
        pod = builders.pod_behaviour(duration=SCALE.pod_duration)
        task = kube.create(ns, builders.task(fires.name, pod_annotations=pod, **spec))
        created[fires.name] = parse_time(task["metadata"]["creationTimestamp"])
    return created


def wait_caught_up(kube: Kube, ns: str, last: dict[str, dt.datetime], timeout: float) -> None:
    """Until every Task records its last fire of the window handled (status.lastScheduleTime), or `timeout`:
    pausing a Task before its fire is handled would drop the fire by design, which is not what is tested."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        behind = []
        for name, at in last.items():
            status = (kube.get(ns, "tasks", name) or {}).get("status") or {}
            done = status.get("lastScheduleTime")
            if done is None or parse_time(done) < at:
                behind.append(name)
        if not behind:
            return
        time.sleep(1.0)


def pause(kube: Kube, ns: str) -> dt.datetime:
    for fires in TASKS:
        body = {"spec": {"state": "paused"}}
        kube.custom.patch_namespaced_custom_object(GROUP, VERSION, ns, "tasks", fires.name, body)
    return dt.datetime.now(dt.UTC)


def wait_all_ended(kube: Kube, ns: str, timeout: float) -> dict[str, dict[str, Any]]:
    """Every Run of the namespace once all have ended (a paused Task's Runs made ahead are deleted), or as they are
    when `timeout` runs out."""
    deadline = time.monotonic() + timeout
    while True:
        runs = {r["metadata"]["name"]: r for r in kube.runs(ns)}
        if all(phase(r) in ENDED for r in runs.values()) or time.monotonic() > deadline:
            return runs
        time.sleep(1.0)


@pytest.mark.timeout(SCALE.fire_window + CATCH_UP_WAIT + SCALE.deadline + 120)
def test_schedule_kills(kube: Kube, operator: OperatorProcess, ns: str) -> None:
    rng = random.Random(SEED)
    jobs_watch = JobWatch(kube, ns).start()
    runs_watch = RunWatch(kube, ns).start()
    created = create_tasks(kube, ns)
    started = time.monotonic()
    outage = (SCALE.outage_share, SCALE.outage_seconds)
    with Killer(operator, SCALE.kill_every, rng, outage, aim=SCALE.fire_aim) as killer:
        time.sleep(SCALE.fire_window)
    window_end = dt.datetime.now(dt.UTC)
    by_name = {f.name: f for f in TASKS}
    due = {name: by_name[name].times(created[name], window_end) for name in created}
    wait_caught_up(kube, ns, {name: times[-1] for name, times in due.items() if times}, CATCH_UP_WAIT)
    paused_at = pause(kube, ns)
    runs = wait_all_ended(kube, ns, SCALE.deadline)
    seconds = time.monotonic() - started
    time.sleep(1)  # the watches' last events
    jobs_watch.stop()
    runs_watch.stop()

    # Each Run by (Task, fire time); a Run the schedule has no time for (or past the pause) is an extra.
    of_fire: dict[tuple[str, dt.datetime], list[str]] = defaultdict(list)
    extra: list[str] = []
    for name, run in runs.items():
        spec = run["spec"]
        task, at = spec["taskRef"]["name"], spec.get("scheduledTime")
        fires = by_name.get(task)
        when = parse_time(at) if at else None
        if fires is None or when is None or when not in fires.times(created[task], paused_at):
            extra.append(name)
            continue
        of_fire[(task, when)].append(name)
    expected: dict[str, Expected] = {}
    lost: list[str] = []
    for (task, _), names in of_fire.items():
        expected |= {n: expect(by_name[task], runs[n]) for n in names}
    for task, times in due.items():
        lost += [f"{task}@{t:%H:%M:%S}" for t in times if (task, t) not in of_fire]
    ended = outcome(runs, expected)

    jobs = jobs_watch.snapshot()
    first_job: dict[str, dt.datetime] = {}
    for job in jobs:
        if job.attempt == "1":
            first_job[job.run] = min(job.created, first_job.get(job.run, job.created))
    keyed = {f.name for f in TASKS if f.key or f.agent}
    lags, waits = {}, {}
    for name in set(expected) & set(first_job):  # the Runs that ran (a missed record has no Job)
        run = runs[name]
        fired = parse_time(run["spec"]["scheduledTime"])
        handled = first_job[name]
        if run["spec"]["taskRef"]["name"] in keyed:
            handled = parse_time(run["metadata"]["creationTimestamp"])
        down = killer.down_between(fired.timestamp(), handled.timestamp())
        lags[name] = handled - fired - dt.timedelta(seconds=down)
        waits[name] = first_job[name] - fired
    late = sorted(f"{n}:{lag.total_seconds():.0f}s" for n, lag in lags.items() if lag > LAG)
    key_of = {f.name: f.key for f in TASKS if f.key}
    agent_of = {f.name: f.agent for f in TASKS if f.agent}
    ours = list(runs.values())
    violations = (
        run_violations(ours, key_of, LIMITS)
        + run_violations(ours, agent_of, LIMITS)
        + job_violations(jobs, key_of, LIMITS)
        + job_violations(jobs, agent_of, LIMITS)
    )
    records = sum(1 for n in expected if (runs[n].get("status") or {}).get("endReason") == "missed")
    counts = {
        "tasks": len(TASKS),
        "fires": sum(len(t) for t in due.values()),
        "runs": len(runs),
        # Which path each fire took: its Run made ahead of it, or made at it (in one pass with its Job, or keyed).
        "made_ahead": sum(1 for n in expected if made_ahead(runs[n])),
        "missed_records": records,
        "jobs": len(jobs),
        "restarts": killer.kills,
        "outages": killer.outages,
        "duplicate_jobs": jobs_watch.duplicates(),
        "duplicate_runs": runs_watch.duplicates(),
        "violations": violations,
        "extra": len(extra),
        "late": len(late),
        "max_up_lag_s": round(max(lags.values(), default=dt.timedelta()).total_seconds()),
        # From a fire to its Job, outages and waits for a slot included: for the record, not checked.
        "max_job_wait_s": round(max(waits.values(), default=dt.timedelta()).total_seconds()),
        "lost": len(lost),
        "stuck": len(ended.stuck),
        "wrong_end": len(ended.wrong_end),
    }
    report("schedule-kills", counts, seconds)
    assert killer.kills >= 2, "the operator was killed more than once"
    assert (counts["duplicate_jobs"], counts["duplicate_runs"], counts["violations"]) == (0, 0, 0), counts
    assert (lost, extra, late) == ([], [], []), f"lost {lost[:10]}, extra {extra[:10]}, late {late[:10]}"
    assert ended.counts() == {"lost": 0, "stuck": 0, "wrong_end": 0}, ended.explain()


def made_ahead(run: dict[str, Any]) -> bool:
    """Whether a Run was created before its fire (creation times are whole seconds, rounded down)."""
    meta = run["metadata"]
    created, fire = parse_time(meta["creationTimestamp"]), parse_time(run["spec"]["scheduledTime"])
    return ANNOTATION_AHEAD in (meta.get("annotations") or {}) and created < fire


def expect(fires: Fires, run: dict[str, Any]) -> Expected:
    """How a fire's Run must end: `run_all` runs every fire; the other policies may record one missed instead."""
    missed = (run.get("status") or {}).get("endReason") == "missed"
    return MISSED if missed and fires.missed != "run_all" else RAN
