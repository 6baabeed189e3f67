"""The Kubernetes CronJob controller's tables, translated into taskops' missed and overlap policies.

The translation is written once in data/kubernetes_cronjob.yaml's header and applied here to every
case; the upstream expectations (expectCreate, expectDelete, expectedWarnings, requeue) are checked
as written, plus what taskops adds where it deliberately differs (records of missed or skipped fires).
"""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import pytest

from taskops.domain.resources.phases import EndReason
from taskops.domain.resources.task import TaskSpec
from taskops.domain.scheduling.firing import FirePlan, plan
from taskops.domain.scheduling.recurrence import Schedule, ScheduleError, parse
from tests.conformance.vectors import cases, instant

FILE = "kubernetes_cronjob.yaml"
OVERLAP = {"Allow": "allow", "Forbid": "skip", "Replace": "replace"}
# The upstream harness's times (cronjob_controllerv2_test.go).
JUST_BEFORE_THE_HOUR = "2016-05-19T09:59:00Z"
JUST_BEFORE_THE_PRIOR_HOUR = "2016-05-19T08:59:00Z"
JUST_AFTER_THE_PRIOR_HOUR = "2016-05-19T09:01:00Z"
STILL_GOING = "mycronjob-still-active"


def task_spec(case: dict[str, Any], schedule: str = "0 * * * ?") -> TaskSpec:
    fields: dict[str, Any] = {
        "payload": {"spec": {}},
        "scheduleKind": "cron",
        "scheduleExpr": case.get("schedule", schedule),
        "missedPolicy": "run_once",
        "overlapPolicy": OVERLAP[case.get("policy", "Allow")],
        "state": "paused" if case.get("suspend") else "active",
    }
    if case.get("timeZone"):
        fields["timezone"] = case["timeZone"]
    if case.get("deadline"):
        fields["startingDeadlineSeconds"] = case["deadline"]
    return TaskSpec.model_validate(fields)


def parsed(spec: TaskSpec, now: dt.datetime) -> Schedule:
    schedule = parse(spec.schedule_kind, spec.schedule_expr, spec.timezone, now=now)
    assert schedule is not None
    return schedule


def expect_rejection(case: dict[str, Any], spec: TaskSpec, now: dt.datetime) -> None:
    with pytest.raises(ScheduleError) as err:
        parse(spec.schedule_kind, spec.schedule_expr, spec.timezone, now=now)
    assert err.value.field == case["taskops"]["rejects"]


def executions(fire_plan: FirePlan) -> list[dt.datetime]:
    return [r.scheduled_time for r in fire_plan.runs if r.disposition is None]


def records(fire_plan: FirePlan) -> list[tuple[dt.datetime, EndReason]]:
    return [(r.scheduled_time, r.disposition) for r in fire_plan.runs if r.disposition is not None]


@pytest.mark.parametrize("case", cases(FILE, "sync"))
def test_sync_cronjob(case: dict[str, Any]) -> None:
    """TestControllerV2SyncCronJob: what one sync creates, deletes and warns about, and when it comes back."""
    spec = task_spec(case)
    now = instant(case["now"])
    taskops = case.get("taskops", {})
    if "rejects" in taskops:
        # CronJob posts a Warning for a bad schedule or zone; taskops names the field (ScheduleValid=False + Event).
        expect_rejection(case, spec, now)
        assert case.get("expectedWarnings", 0) >= 1 or case.get("differs") == "cron-syntax"
        return
    if case.get("ranPreviously"):
        last = instant(case.get("lastScheduleTime", JUST_AFTER_THE_PRIOR_HOUR))
    else:
        last = instant(JUST_BEFORE_THE_HOUR)
    active = [STILL_GOING] if case.get("stillActive") else []
    fire_plan = plan(spec, parsed(spec, now), last, now, active)

    created = executions(fire_plan)
    assert len(created) == (1 if case.get("expectCreate") else 0)
    assert fire_plan.stop == ([STILL_GOING] if case.get("expectDelete") else [])
    # expectActive: the Jobs still going after the sync.
    assert len(active) - len(fire_plan.stop) + len(created) == case.get("expectActive", 0)
    if "requeue" in case:
        assert fire_plan.next_fire == now + dt.timedelta(seconds=case["requeue"])
    else:
        assert fire_plan.next_fire is None  # suspended: nothing to wake up for
    dropped = fire_plan.dropped != 0
    if case.get("differs") == "catch-up-bound":
        assert dropped and case.get("expectedWarnings", 0) == 0
    else:
        assert dropped == (case.get("expectedWarnings", 0) >= 1)

    check_records(case, fire_plan)


def check_records(case: dict[str, Any], fire_plan: FirePlan) -> None:
    """What taskops records and CronJob does not: exactly the records the case lists, and only where it differs."""
    taskops = case.get("taskops", {})
    if "missed" in taskops:
        assert [r for _, r in records(fire_plan)] == [EndReason.MISSED] * taskops["missed"]
        assert fire_plan.dropped == taskops["dropped"]
    else:
        assert records(fire_plan) == [(instant(at), EndReason(reason)) for at, reason in taskops.get("records", [])]
    assert bool(records(fire_plan)) == (
        case.get("differs") in {"missed-recorded", "overlap-recorded", "catch-up-bound"}
    )


def fires_between(schedule: Schedule, after: dt.datetime, until: dt.datetime, limit: int = 1000) -> list[dt.datetime]:
    return [
        f.at for f in itertools.takewhile(lambda f: f.at <= until, itertools.islice(schedule.fires_after(after), limit))
    ]


@pytest.mark.parametrize("case", cases(FILE, "most_recent"))
def test_most_recent_schedule_time(case: dict[str, Any]) -> None:
    """TestMostRecentScheduleTime: the latest fire time in (last, now] and how many were missed."""
    spec = task_spec(case)
    now = instant(case["now"])
    taskops = case.get("taskops", {})
    if "rejects" in taskops:
        expect_rejection(case, spec, now)
        return
    fires = fires_between(parsed(spec, now), instant(case.get("last", case["created"])), now)
    recent = taskops.get("recent", case["recent"])
    assert (fires[-1] if fires else None) == (instant(recent) if recent else None)
    missed = "none" if len(fires) <= 1 else "few" if len(fires) <= 100 else "many"
    assert missed == case["missed"]
    # The same through the planner: the latest fire is the one run_once starts (or records, past the deadline).
    fire_plan = plan(spec, parsed(spec, now), instant(case.get("last", case["created"])), now, [])
    assert fire_plan.last_schedule_time == (fires[-1] if fires else None)


@pytest.mark.parametrize("case", cases(FILE, "next_schedule"))
def test_next_schedule_time(case: dict[str, Any]) -> None:
    """TestNextScheduleTime: the schedule time a sync starts now, if any."""
    spec = task_spec(case)
    now = instant(case["now"])
    if case.get("error"):
        with pytest.raises(ScheduleError) as err:
            parse(spec.schedule_kind, spec.schedule_expr, spec.timezone, now=now)
        assert err.value.field == "scheduleExpr"
        return
    fire_plan = plan(spec, parsed(spec, now), instant(case.get("last", case["created"])), now, [])
    assert executions(fire_plan) == ([instant(case["start"])] if case["start"] else [])
    check_records(case, fire_plan)


@pytest.mark.parametrize("case", cases(FILE, "next_duration"))
def test_next_schedule_time_duration(case: dict[str, Any]) -> None:
    """TestNextScheduleTimeDuration: when the controller comes back (the next fire, plus upstream's 100 ms)."""
    spec = task_spec(case)
    now = instant(case["now"])
    fire_plan = plan(spec, parsed(spec, now), instant(case.get("last", case["created"])), now, [])
    assert fire_plan.next_fire is not None
    # Upstream expects `duration + nextScheduleDelta`; `duration` is transcribed without the delta.
    assert fire_plan.next_fire - now == dt.timedelta(seconds=case["duration"])


ALLOW_CASES = [
    p
    for p in cases(FILE, "sync")
    if p.values[0].get("policy") == "Allow"
    and not p.values[0].get("suspend")
    and "rejects" not in p.values[0].get("taskops", {})
]


@pytest.mark.parametrize("missed_policy", ["skip", "run_all"])
@pytest.mark.parametrize("case", ALLOW_CASES)
def test_sync_cronjob_under_the_other_missed_policies(case: dict[str, Any], missed_policy: str) -> None:
    """The same syncs under `skip` and `run_all` (docs/schedules.md, "Missed fires"), from hourly arithmetic alone."""
    spec = task_spec(case).model_copy(update={"missed_policy": missed_policy})
    now = instant(case["now"])
    last = instant(
        case.get("lastScheduleTime", JUST_AFTER_THE_PRIOR_HOUR) if case.get("ranPreviously") else JUST_BEFORE_THE_HOUR
    )
    hour = dt.timedelta(hours=1)
    first = last.replace(minute=0, second=0) + hour
    fires = [first + hour * i for i in range(int((now - first) / hour) + 1) if first + hour * i <= now]
    due = fires[-(spec.max_catch_up + 1) :]
    on_time = [f for f in due if now - f <= dt.timedelta(seconds=10)]
    late = [f for f in due if f not in on_time][-spec.max_catch_up :]
    deadline = dt.timedelta(seconds=case["deadline"]) if case.get("deadline") else None
    run_late = [f for f in late if missed_policy == "run_all" and (deadline is None or now - f <= deadline)]

    fire_plan = plan(spec, parsed(spec, now), last, now, [STILL_GOING] if case.get("stillActive") else [])
    assert executions(fire_plan) == sorted(on_time + run_late)
    assert records(fire_plan) == [(f, EndReason.MISSED) for f in late if f not in run_late]
    assert fire_plan.dropped == len(fires) - len(on_time) - len(late)
    assert fire_plan.next_fire == (fires[-1] if fires else last.replace(minute=0, second=0)) + hour
