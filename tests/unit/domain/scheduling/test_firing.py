"""Fire planning: on-time fires, missed fires per policy, DST records, snooze, overlap."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from taskops.domain.resources.phases import EndReason
from taskops.domain.resources.task import TaskSpec
from taskops.domain.scheduling.firing import LATE_AFTER, plan
from taskops.domain.scheduling.recurrence import parse

UTC = dt.UTC
T0 = dt.datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
MIN = dt.timedelta(minutes=1)


def spec(**fields: Any) -> TaskSpec:
    base: dict[str, Any] = {"payload": {"spec": {}}, "scheduleKind": "cron", "scheduleExpr": "* * * * *"}
    base.update(fields)
    return TaskSpec.model_validate(base)


def run_plan(s: TaskSpec, last: dt.datetime, now: dt.datetime, active: list[str] | None = None) -> Any:
    schedule = parse(s.schedule_kind, s.schedule_expr, s.timezone)
    return plan(s, schedule, last, now, active or [])


def kinds(p: Any) -> list[tuple[dt.datetime, EndReason | None]]:
    return [(r.scheduled_time, r.disposition) for r in p.runs]


def test_nothing_due_gives_next_fire() -> None:
    p = run_plan(spec(), T0, T0 + dt.timedelta(seconds=30))
    assert p.runs == [] and p.last_schedule_time is None and p.next_fire == T0 + MIN


def test_on_time_fire_runs() -> None:
    p = run_plan(spec(), T0, T0 + MIN + dt.timedelta(milliseconds=40))
    assert kinds(p) == [(T0 + MIN, None)]
    assert p.last_schedule_time == T0 + MIN and p.next_fire == T0 + 2 * MIN


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ("skip", [EndReason.MISSED, EndReason.MISSED, EndReason.MISSED]),
        ("run_once", [EndReason.MISSED, EndReason.MISSED, None]),
        ("run_all", [None, None, None]),
    ],
)
def test_missed_fires_follow_the_policy(policy: str, expected: list[EndReason | None]) -> None:
    # Down from T0 until 3m30s later: fires at +1, +2, +3 minutes were missed.
    p = run_plan(spec(missedPolicy=policy), T0, T0 + 3 * MIN + dt.timedelta(seconds=30))
    assert kinds(p) == [(T0 + i * MIN, e) for i, e in zip((1, 2, 3), expected, strict=True)]
    assert p.last_schedule_time == T0 + 3 * MIN


def test_run_once_with_an_on_time_fire_records_all_late_ones() -> None:
    p = run_plan(spec(), T0, T0 + 3 * MIN + dt.timedelta(seconds=2))
    assert kinds(p) == [(T0 + MIN, EndReason.MISSED), (T0 + 2 * MIN, EndReason.MISSED), (T0 + 3 * MIN, None)]


def test_starting_deadline_turns_late_runs_into_records() -> None:
    now = T0 + 3 * MIN + dt.timedelta(seconds=30)
    p = run_plan(spec(startingDeadlineSeconds=20), T0, now)
    assert [d for _, d in kinds(p)] == [EndReason.MISSED] * 3
    assert "startingDeadlineSeconds" in p.runs[-1].message
    p = run_plan(spec(startingDeadlineSeconds=100, missedPolicy="run_all"), T0, now)
    assert [d for _, d in kinds(p)] == [EndReason.MISSED, None, None]


def test_catch_up_is_capped_and_never_an_unbounded_burst() -> None:
    p = run_plan(spec(missedPolicy="run_all", maxCatchUp=5), T0, T0 + 600 * MIN + dt.timedelta(seconds=30))
    assert len(p.runs) == 5
    assert [t for t, _ in kinds(p)] == [T0 + i * MIN for i in range(596, 601)]
    assert p.dropped == 595
    # A per-second schedule down for days: still bounded, count unknown.
    s = spec(scheduleExpr="* * * * * *", missedPolicy="skip", maxCatchUp=3)
    p = run_plan(s, T0, T0 + dt.timedelta(days=3))
    assert len(p.runs) <= 4 and p.dropped is None  # never more than maxCatchUp + 1 in all


def test_dst_skipped_fire_is_a_record() -> None:
    s = spec(scheduleExpr="30 2 * * *", timezone="America/New_York")
    last = dt.datetime(2026, 3, 7, 12, tzinfo=UTC)
    gap_end = dt.datetime(2026, 3, 8, 7, 0, tzinfo=UTC)  # 03:00 EDT
    p = run_plan(s, last, gap_end + dt.timedelta(seconds=1))
    assert kinds(p) == [(gap_end, EndReason.DST_SKIPPED)]


def test_paused_canceled_and_event_tasks_never_fire() -> None:
    for s in (spec(state="paused"), spec(state="canceled"), spec(scheduleKind="event", scheduleExpr="x")):
        p = run_plan(s, T0, T0 + 10 * MIN)
        assert p.runs == [] and p.next_fire is None


def test_snooze_holds_fires_then_fires_once_at_its_end() -> None:
    until = T0 + 5 * MIN + dt.timedelta(seconds=30)
    s = spec(snooze={"until": until.isoformat(), "reason": "maintenance"})
    during = run_plan(s, T0, T0 + 3 * MIN)
    assert during.runs == [] and during.next_fire == until
    after = run_plan(s, T0, until + dt.timedelta(milliseconds=10))
    assert kinds(after) == [(until, None)]
    assert "maintenance" in after.runs[0].message
    assert after.last_schedule_time == until and after.next_fire == T0 + 6 * MIN


def test_snooze_with_no_fire_inside_changes_nothing() -> None:
    s = spec(scheduleExpr="0 * * * *", snooze={"until": (T0 + 5 * MIN).isoformat()})
    p = run_plan(s, T0, T0 + 6 * MIN)
    assert p.runs == [] and p.next_fire == T0 + 60 * MIN


def test_overlap_policies() -> None:
    now = T0 + MIN + dt.timedelta(seconds=1)
    allow = run_plan(spec(), T0, now, ["old"])
    assert kinds(allow) == [(T0 + MIN, None)] and allow.stop == []
    skip = run_plan(spec(overlapPolicy="skip"), T0, now, ["old"])
    assert kinds(skip) == [(T0 + MIN, EndReason.SKIPPED)] and "old" in skip.runs[0].message
    replace = run_plan(spec(overlapPolicy="replace"), T0, now, ["old"])
    assert kinds(replace) == [(T0 + MIN, None)] and replace.stop == ["old"]


def test_overlap_within_a_catch_up_batch() -> None:
    now = T0 + 3 * MIN + dt.timedelta(seconds=30)
    skip = run_plan(spec(missedPolicy="run_all", overlapPolicy="skip"), T0, now)
    assert [d for _, d in kinds(skip)] == [None, EndReason.SKIPPED, EndReason.SKIPPED]
    replace = run_plan(spec(missedPolicy="run_all", overlapPolicy="replace"), T0, now)
    assert [d for _, d in kinds(replace)] == [EndReason.STOPPED, EndReason.STOPPED, None]


def test_late_threshold() -> None:
    just = run_plan(spec(missedPolicy="skip"), T0, T0 + MIN + LATE_AFTER)
    assert kinds(just) == [(T0 + MIN, None)]
    late = run_plan(spec(missedPolicy="skip"), T0, T0 + MIN + LATE_AFTER + dt.timedelta(seconds=1))
    assert kinds(late) == [(T0 + MIN, EndReason.MISSED)]
