"""What a Task's schedule does now: which Runs to create (or record), which to stop.

`plan` is pure: given the Task's spec, its parsed schedule, the last fire time
it recorded, the Runs of it still going, and `now`, it returns a FirePlan.
It decides missed fires (the operator was down), DST skips, snoozes and the
overlap policy in one place.
"""

from __future__ import annotations

import collections
import datetime as dt
from dataclasses import dataclass, field

from taskops.domain.resources import timefmt
from taskops.domain.resources.phases import EndReason
from taskops.domain.resources.task import TaskSpec
from taskops.domain.scheduling.recurrence import Fire, FireSource

# A fire this much older than `now` was missed (the operator was down or stalled), not merely processed late.
LATE_AFTER = dt.timedelta(seconds=10)
# How far back missed fires are searched for: the window doubles until it covers the last recorded fire.
_FIRST_LOOKBACK = dt.timedelta(hours=1)
# Beyond this many, dropped fires are reported as "many" instead of being counted one by one.
_COUNT_LIMIT = 10_000


@dataclass(frozen=True)
class PlannedRun:
    """A Run to create for `scheduled_time`; with a disposition it is only a record and never executes."""

    scheduled_time: dt.datetime
    disposition: EndReason | None = None
    message: str = ""


@dataclass
class FirePlan:
    runs: list[PlannedRun] = field(default_factory=list)
    stop: list[str] = field(default_factory=list)
    last_schedule_time: dt.datetime | None = None
    next_fire: dt.datetime | None = None
    # Missed fires beyond the cap, neither run nor recorded; None when the count is unknown (very many).
    dropped: int | None = 0


def _latest_fires(
    schedule: FireSource, after: dt.datetime, until: dt.datetime, keep: int
) -> tuple[list[Fire], int | None]:
    """The latest `keep` fires in (after, until], and how many older ones there were (None: very many)."""
    window: collections.deque[Fire] = collections.deque(maxlen=keep)
    for seen, fire in enumerate(schedule.fires_after(after)):
        if fire.at > until:
            return list(window), seen - len(window)
        if seen >= _COUNT_LIMIT:
            break
        window.append(fire)
    # Down for a long time on a dense schedule: find the latest fires by looking back from `until`.
    lookback = _FIRST_LOOKBACK
    while True:
        start = max(after, until - lookback)
        window.clear()
        found = 0
        for fire in schedule.fires_after(start):
            if fire.at > until:
                break
            window.append(fire)
            found += 1
        if found >= keep or start == after:
            return list(window), None
        lookback *= 2


def plan(
    spec: TaskSpec, schedule: FireSource | None, last: dt.datetime, now: dt.datetime, active: list[str]
) -> FirePlan:
    """Decide the fires due in (last, now]. `active` names the Task's Runs that have not ended."""
    if schedule is None or schedule.kind == "event" or spec.state != "active":
        return FirePlan(last_schedule_time=None, next_fire=None)
    # Set only when a fire is handled: a Task that never fired has no lastScheduleTime.
    result = FirePlan(last_schedule_time=None)
    executions: list[PlannedRun] = []

    snooze_until = spec.snooze.until if spec.snooze else None
    if snooze_until is not None and snooze_until > last:
        first = schedule.next_fire(last)
        if now < snooze_until:
            result.next_fire = snooze_until if first and first.at < snooze_until else (first.at if first else None)
            return result
        if first is not None and first.at < snooze_until:
            # The fires the snooze held back become one fire at its end: "the next fire moves".
            reason = f" ({spec.snooze.reason})" if spec.snooze and spec.snooze.reason else ""
            executions.append(PlannedRun(snooze_until, message=f"snoozed fire{reason}"))
            last = snooze_until
            result.last_schedule_time = snooze_until

    keep = spec.max_catch_up + 1
    due, dropped = _latest_fires(schedule, last, now, keep)
    result.dropped = dropped
    if due:
        result.last_schedule_time = due[-1].at
    on_time = [f for f in due if now - f.at <= LATE_AFTER]
    late = [f for f in due if now - f.at > LATE_AFTER]
    if len(late) > spec.max_catch_up:
        result.dropped = None if dropped is None else dropped + len(late) - spec.max_catch_up
        late = late[-spec.max_catch_up :]
    deadline = dt.timedelta(seconds=spec.starting_deadline_seconds) if spec.starting_deadline_seconds else None
    records: list[PlannedRun] = []

    def within_deadline(fire: Fire) -> bool:
        return deadline is None or now - fire.at <= deadline

    late_live = [f for f in late if not f.dst_skipped]
    if spec.missed_policy == "run_all":
        run_late = [f for f in late_live if within_deadline(f)]
    elif spec.missed_policy == "run_once" and not on_time and late_live and within_deadline(late_live[-1]):
        run_late = [late_live[-1]]
    else:
        run_late = []
    for fire in due:
        if fire not in late and fire not in on_time:
            continue
        if fire.dst_skipped:
            records.append(PlannedRun(fire.at, EndReason.DST_SKIPPED, "the local time does not exist (DST)"))
        elif fire in on_time or fire in run_late:
            executions.append(PlannedRun(fire.at, message="late" if fire in run_late else ""))
        else:
            why = "the operator was not running at this fire time"
            if deadline is not None and not within_deadline(fire):
                why += f" and it is past startingDeadlineSeconds ({spec.starting_deadline_seconds}s)"
            records.append(PlannedRun(fire.at, EndReason.MISSED, why))

    result.runs = records + _apply_overlap(spec, sorted(executions, key=lambda r: r.scheduled_time), active, result)
    result.runs.sort(key=lambda r: r.scheduled_time)
    nxt = schedule.next_fire(max(now, result.last_schedule_time or last))
    result.next_fire = nxt.at if nxt else None
    return result


def _apply_overlap(
    spec: TaskSpec, executions: list[PlannedRun], active: list[str], result: FirePlan
) -> list[PlannedRun]:
    if not executions or spec.overlap_policy == "allow":
        return executions
    if spec.overlap_policy == "replace":
        # Only the newest fire survives: it replaces what is going and what this plan would start before it.
        result.stop.extend(active)
        newest = executions[-1]
        superseded = [
            PlannedRun(
                r.scheduled_time,
                EndReason.STOPPED,
                f"overlap policy replace: superseded by the fire at {timefmt.stamp(newest.scheduled_time)}",
            )
            for r in executions[:-1]
        ]
        return [*superseded, newest]
    # skip: a fire while another Run of the Task is going is recorded as skipped.
    out: list[PlannedRun] = []
    going = active[0] if active else None
    for run in executions:
        if going is not None:
            out.append(
                PlannedRun(run.scheduled_time, EndReason.SKIPPED, f"overlap policy skip: Run {going} is still going")
            )
        else:
            out.append(run)
            going = f"of {timefmt.stamp(run.scheduled_time)}"
    return out
