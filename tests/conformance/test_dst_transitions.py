"""Every 2026-2028 DST transition of zones with unusual rules, under every DST policy.

The expected fires are computed here from `zoneinfo` alone, never from taskops' code: the
transitions are found by scanning each zone's UTC offset, and each local wall time of a schedule is
mapped to the instants whose local time it is (a round trip through the zone, folds 0 and 1). A
wall time with no instant lies in a gap: it becomes one fire at the transition (a `dst_skipped`
record under `nonexistent: skip`, a fire under `shift`), absorbed into a real fire at that instant
if there is one; a wall time with two instants fires at the first, the last or both
(docs/schedules.md, "Time zones and daylight saving").
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import pytest

from taskops.domain.resources.task import DstPolicy
from taskops.domain.scheduling.recurrence import Fire, parse

UTC = dt.UTC
YEARS = (dt.datetime(2026, 1, 1, tzinfo=UTC), dt.datetime(2029, 1, 1, tzinfo=UTC))
ZONES = {
    "Australia/Lord_Howe": "shifts by 30 minutes, southern hemisphere",
    "Antarctica/Troll": "shifts by 2 hours",
    "America/Santiago": "transitions at midnight, southern hemisphere",
    "America/Havana": "transitions at midnight",
    "Asia/Beirut": "transitions at midnight",
    "Africa/Cairo": "transitions at midnight (reintroduced 2023)",
    "America/Nuuk": "transitions at local 23:00 / midnight, across the date",
    "Asia/Gaza": "transitions on irregular dates",
    "Pacific/Chatham": "a UTC+12:45 zone, southern hemisphere",
    "Pacific/Auckland": "southern hemisphere",
    "America/St_Johns": "a UTC-03:30 zone",
    "Europe/Dublin": "negative DST in the tz database (winter time is the 'daylight' one)",
}
POLICIES = [DstPolicy(nonexistent=n, repeated=r) for n in ("skip", "shift") for r in ("first", "last", "both")]  # type: ignore[arg-type]
WINDOW = dt.timedelta(hours=3)


@dataclass(frozen=True)
class Transition:
    zone: str
    at: dt.datetime  # the first instant with the new offset
    shift: dt.timedelta  # new offset - old offset: positive springs forward (a gap), negative falls back (a fold)

    def __str__(self) -> str:
        return f"{self.zone}-{self.at:%Y-%m-%dT%H:%M}Z-{int(self.shift.total_seconds() // 60):+d}min"


def transitions(name: str) -> Iterator[Transition]:
    """The zone's offset changes in 2026-2028: a scan by 6 hours, then a bisection to the second."""
    tz = ZoneInfo(name)
    step = dt.timedelta(hours=6)
    t = YEARS[0]
    while t < YEARS[1]:
        before, after = t.astimezone(tz).utcoffset(), (t + step).astimezone(tz).utcoffset()
        assert before is not None and after is not None
        if before != after:
            lo, hi = t, t + step
            while hi - lo > dt.timedelta(seconds=1):
                mid = lo + (hi - lo) / 2
                lo, hi = (mid, hi) if mid.astimezone(tz).utcoffset() == before else (lo, mid)
            yield Transition(name, hi.replace(microsecond=0), after - before)
        t += step


ALL = [t for name in ZONES for t in transitions(name)]


def instants_of(wall: dt.datetime, tz: ZoneInfo) -> list[dt.datetime]:
    """The instants whose local time in `tz` is `wall`: none (a gap), one, or two (a fold)."""
    candidates = {wall.replace(tzinfo=tz, fold=fold).astimezone(UTC) for fold in (0, 1)}
    return sorted(i for i in candidates if i.astimezone(tz).replace(tzinfo=None) == wall)


def expected(walls: Iterator[dt.datetime], t: Transition, policy: DstPolicy, after: dt.datetime) -> list[Fire]:
    tz = ZoneInfo(t.zone)
    real: set[dt.datetime] = set()
    skipped: set[dt.datetime] = set()
    for wall in walls:
        found = instants_of(wall, tz)
        if not found:
            assert t.shift > dt.timedelta(0), f"{wall} has no instant away from a gap"
            (real if policy.nonexistent == "shift" else skipped).add(t.at)
        elif len(found) == 1 or policy.repeated == "both":
            real.update(found)
        else:
            real.add(found[0] if policy.repeated == "first" else found[1])
    fires = [Fire(at) for at in real] + [Fire(at, dst_skipped=True) for at in skipped - real]
    until = t.at + WINDOW
    return sorted(f for f in fires if after < f.at <= until)


def local_walls(t: Transition, first: dt.datetime, step: dt.timedelta) -> Iterator[dt.datetime]:
    """Wall times first, first + step, ... through the window around the transition (local, naive)."""
    tz = ZoneInfo(t.zone)
    end = (t.at + WINDOW).astimezone(tz).replace(tzinfo=None) + WINDOW
    return itertools.takewhile(lambda w: w <= end, (first + step * i for i in itertools.count()))


def window_start(t: Transition) -> dt.datetime:
    return (t.at - WINDOW).astimezone(ZoneInfo(t.zone)).replace(tzinfo=None) - WINDOW


def quarter_walls(minute: int) -> Callable[[Transition], Iterator[dt.datetime]]:
    """The wall times of a cron schedule firing every 15 minutes from `minute` past each hour."""

    def walls(t: Transition) -> Iterator[dt.datetime]:
        first = window_start(t).replace(minute=minute, second=0)
        return local_walls(t, first, dt.timedelta(minutes=15))

    return walls


def rrule_case(t: Transition) -> tuple[str, Iterator[dt.datetime]]:
    """FREQ=MINUTELY;INTERVAL=10 from 00:03 local the day before: walls 00:03 + 10 min * k."""
    dtstart = window_start(t).replace(hour=0, minute=3, second=0) - dt.timedelta(days=1)
    return f"DTSTART:{dtstart:%Y%m%dT%H%M%S}\nRRULE:FREQ=MINUTELY;INTERVAL=10", local_walls(
        t, dtstart, dt.timedelta(minutes=10)
    )


# Every 15 minutes meets each transition's gap end (they are on :00, :30 or :45): real fires absorb
# the skipped times. At minutes 7, 22, 37, 52 (and the RRULE at :03, :13, ...) it never does, so
# each gap leaves a dst_skipped record under `skip`.
CRON = {
    "*/15 * * * *": quarter_walls(0),
    "7-59/15 * * * *": quarter_walls(7),
}


def test_every_zone_has_transitions() -> None:
    for name in ZONES:
        assert any(t.zone == name for t in ALL), f"{name} has no DST transition in 2026-2028 in this tzdata"
    assert all(t.at.minute in (0, 15, 30, 45) and t.at.second == 0 for t in ALL)


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: f"{p.nonexistent}-{p.repeated}")
@pytest.mark.parametrize("transition", ALL, ids=str)
def test_fires_around_a_transition(transition: Transition, policy: DstPolicy) -> None:
    after = transition.at - WINDOW
    until = transition.at + WINDOW
    schedules = [("cron", expr, walls(transition)) for expr, walls in CRON.items()]
    schedules.append(("rrule", *rrule_case(transition)))
    records = {}
    for kind, expr, walls in schedules:
        schedule = parse(kind, expr, transition.zone, policy)
        assert schedule is not None
        got = list(itertools.takewhile(lambda f: f.at <= until, schedule.fires_after(after)))
        want = expected(walls, transition, policy, after)
        assert got == want, f"{kind} {expr!r}"
        records[expr] = any(f.dst_skipped for f in want)
    # The vectors exercise what they are for: a gap leaves records only where no real fire is at its end.
    if transition.shift > dt.timedelta(0) and policy.nonexistent == "skip":
        assert records == {"*/15 * * * *": False, "7-59/15 * * * *": True, schedules[2][1]: True}
    else:
        assert not any(records.values())


@pytest.mark.parametrize("transition", ALL, ids=str)
def test_fires_asked_for_from_the_transition_itself(transition: Transition) -> None:
    """Asked from just before, at and just after the transition (where the look-back matters), the same fires."""
    until = transition.at + WINDOW
    walls = CRON["7-59/15 * * * *"]
    for policy in (DstPolicy(nonexistent="skip", repeated="both"), DstPolicy(nonexistent="shift", repeated="first")):
        schedule = parse("cron", "7-59/15 * * * *", transition.zone, policy)
        assert schedule is not None
        for offset in (-1, 0, 1):
            after = transition.at + dt.timedelta(seconds=offset)
            got = list(itertools.takewhile(lambda f: f.at <= until, schedule.fires_after(after)))
            assert got == expected(walls(transition), transition, policy, after), f"{policy} after {after}"
