"""The schedule module: cron, RRULE, once and event, in time zones with DST transitions."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from croniter import croniter
from hypothesis import given, settings
from hypothesis import strategies as st

from taskops.domain.resources.task import DstPolicy
from taskops.domain.scheduling.recurrence import (
    Ahead,
    Fire,
    ScheduleError,
    jitter_offset,
    parse,
    snooze_until,
    zone,
)

UTC = dt.UTC


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def local(tzname: str, *args: int, fold: int = 0) -> dt.datetime:
    return dt.datetime(*args, tzinfo=zone(tzname), fold=fold).astimezone(UTC)


NEW_YEAR = dt.datetime(2026, 1, 1, tzinfo=UTC)


def first(
    n: int, kind: str, expr: str, tz: str = "UTC", after: dt.datetime = NEW_YEAR, policy: DstPolicy | None = None
) -> list[Fire]:
    schedule = parse(kind, expr, tz, policy)
    assert schedule is not None
    return list(itertools.islice(schedule.fires_after(after), n))


# -- cron agrees with croniter wherever there is no DST -----------------------------------------

cron_field = st.one_of(
    st.just("*"),
    st.integers(1, 15).map(lambda n: f"*/{n}"),
    st.integers(0, 5).map(str),
    st.tuples(st.integers(0, 4), st.integers(5, 9)).map(lambda t: f"{t[0]}-{t[1]}"),
    st.lists(st.integers(0, 9), min_size=1, max_size=3, unique=True).map(lambda xs: ",".join(map(str, sorted(xs)))),
)
cron_expr = st.tuples(
    cron_field,
    cron_field,
    st.sampled_from(["*", "1", "1-15", "*/2"]),
    st.sampled_from(["*", "1-6", "3"]),
    st.sampled_from(["*", "1-5", "0"]),
).map(" ".join)


@settings(max_examples=150, deadline=None)
@given(cron_expr, st.datetimes(min_value=dt.datetime(2020, 1, 1), max_value=dt.datetime(2030, 1, 1)))
def test_cron_in_utc_matches_croniter(expr: str, start: dt.datetime) -> None:
    after = start.replace(tzinfo=UTC)
    ours = [f.at for f in first(5, "cron", expr, after=after)]
    it = croniter(expr, start)
    theirs = [it.get_next(dt.datetime).replace(tzinfo=UTC) for _ in range(5)]
    assert ours == theirs
    assert all(not f.dst_skipped for f in first(5, "cron", expr, after=after))


def test_cron_with_seconds_field_first_and_macros() -> None:
    assert [f.at for f in first(3, "cron", "*/20 * * * * *", after=utc(2026, 1, 1, 0, 0, 5))] == [
        utc(2026, 1, 1, 0, 0, 20),
        utc(2026, 1, 1, 0, 0, 40),
        utc(2026, 1, 1, 0, 1, 0),
    ]
    assert [f.at for f in first(2, "cron", "@hourly")] == [utc(2026, 1, 1, 1), utc(2026, 1, 1, 2)]


# -- DST ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tz", "expr", "after", "skipped_local", "gap_end"),
    [
        # America/New_York springs forward 2026-03-08 02:00 → 03:00.
        ("America/New_York", "30 2 * * *", utc(2026, 3, 7, 12), (2026, 3, 8, 2, 30), (2026, 3, 8, 3, 0)),
        # Europe/Chisinau springs forward 2026-03-29 02:00 → 03:00.
        ("Europe/Chisinau", "15 2 * * *", utc(2026, 3, 28, 12), (2026, 3, 29, 2, 15), (2026, 3, 29, 3, 0)),
        # Australia/Lord_Howe moves by 30 minutes: 2026-10-04 02:00 → 02:30.
        ("Australia/Lord_Howe", "15 2 * * *", utc(2026, 10, 3, 0), (2026, 10, 4, 2, 15), (2026, 10, 4, 2, 30)),
    ],
)
def test_nonexistent_local_time_is_dst_skipped_or_shifted(
    tz: str, expr: str, after: dt.datetime, skipped_local: tuple[int, ...], gap_end: tuple[int, ...]
) -> None:
    fires = first(3, "cron", expr, tz, after)
    assert fires[0].dst_skipped
    assert fires[0].at == local(tz, *gap_end)
    assert not fires[1].dst_skipped and not fires[2].dst_skipped
    shifted = first(3, "cron", expr, tz, after, DstPolicy(nonexistent="shift"))
    assert [f.at for f in shifted] == [f.at for f in fires]
    assert not any(f.dst_skipped for f in shifted)


@pytest.mark.parametrize(
    ("tz", "expr", "after", "gap", "real"),
    [
        # Issue 23: New York 2027-03-14 02:00 → 03:00. 02:00 does not exist, 03:00 EDT does and must run.
        ("America/New_York", "0 * * * *", utc(2027, 3, 14, 5, 30), (2027, 3, 14, 2, 0), (2027, 3, 14, 3, 0)),
        # croniter's DST vectors: Athens */30 (03:00 → 04:00 on 2027-03-28), Warsaw hourly (02:00 → 03:00).
        ("Europe/Athens", "*/30 * * * *", utc(2027, 3, 28, 0, 0), (2027, 3, 28, 3, 0), (2027, 3, 28, 4, 0)),
        ("Europe/Warsaw", "0 * * * *", utc(2027, 3, 28, 0, 30), (2027, 3, 28, 2, 0), (2027, 3, 28, 3, 0)),
        # Lord Howe: 02:00 → 02:30, and */30 has 02:30 as a real time.
        ("Australia/Lord_Howe", "*/30 * * * *", utc(2026, 10, 3, 15, 0), (2026, 10, 4, 2, 0), (2026, 10, 4, 2, 30)),
    ],
)
@pytest.mark.parametrize("policy", ["skip", "shift"])
def test_gap_ending_on_a_scheduled_time_keeps_the_real_fire(
    tz: str, expr: str, after: dt.datetime, gap: tuple[int, ...], real: tuple[int, ...], policy: str
) -> None:
    """The skipped times are absorbed into the real fire at the gap's end: that fire runs, once."""
    fires = first(6, "cron", expr, tz, after, DstPolicy(nonexistent=policy))  # type: ignore[arg-type]
    at_real = [f for f in fires if f.at == local(tz, *real)]
    assert at_real == [Fire(local(tz, *real), dst_skipped=False)]
    assert not any(f.dst_skipped for f in fires)
    assert len({f.at for f in fires}) == len(fires)
    # The vector is what it says: `gap` is a local time that does not exist.
    assert local(tz, *gap).astimezone(zone(tz)).replace(tzinfo=None) != dt.datetime(*gap)


@pytest.mark.parametrize(
    ("tz", "expr", "after", "repeated_local"),
    [
        # New York falls back 2026-11-01 02:00 → 01:00: 01:30 happens twice.
        ("America/New_York", "30 1 * * *", utc(2026, 10, 31, 12), (2026, 11, 1, 1, 30)),
        # Chisinau falls back 2026-10-25 03:00 → 02:00: 02:30 happens twice.
        ("Europe/Chisinau", "30 2 * * *", utc(2026, 10, 24, 12), (2026, 10, 25, 2, 30)),
        # Lord Howe falls back 2026-04-05 02:00 → 01:30: 01:45 happens twice.
        ("Australia/Lord_Howe", "45 1 * * *", utc(2026, 4, 4, 0), (2026, 4, 5, 1, 45)),
    ],
)
def test_repeated_local_time_fires_once_by_default(
    tz: str, expr: str, after: dt.datetime, repeated_local: tuple[int, ...]
) -> None:
    early, late = local(tz, *repeated_local, fold=0), local(tz, *repeated_local, fold=1)
    assert early < late
    day = [f.at for f in first(2, "cron", expr, tz, after)]
    assert day[0] == early and day[1] > late  # the second occurrence does not fire
    assert first(1, "cron", expr, tz, after, DstPolicy(repeated="last"))[0].at == late
    both = [f.at for f in first(2, "cron", expr, tz, after, DstPolicy(repeated="both"))]
    assert both == [early, late]


def test_every_15_minutes_across_fall_back_fires_each_wall_time_once() -> None:
    fires = first(12, "cron", "*/15 * * * *", "America/New_York", local("America/New_York", 2026, 11, 1, 0, 50))
    walls = [f.at.astimezone(zone("America/New_York")).strftime("%H:%M") for f in fires]
    assert walls == [
        "01:00",
        "01:15",
        "01:30",
        "01:45",
        "02:00",
        "02:15",
        "02:30",
        "02:45",
        "03:00",
        "03:15",
        "03:30",
        "03:45",
    ]
    assert all(b > a for a, b in itertools.pairwise(f.at for f in fires))


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(["America/New_York", "Europe/Chisinau", "Australia/Lord_Howe"]),
    st.sampled_from(["*/7 * * * *", "0,30 * * * *", "15 1,2,3 * * *", "*/20 2 * * *"]),
    st.datetimes(min_value=dt.datetime(2026, 1, 1), max_value=dt.datetime(2027, 1, 1)),
    st.sampled_from(
        [DstPolicy(), DstPolicy(nonexistent="shift", repeated="both"), DstPolicy(nonexistent="skip", repeated="last")]
    ),
)
def test_fires_are_strictly_increasing_and_after_start(
    tz: str, expr: str, start: dt.datetime, policy: DstPolicy
) -> None:
    after = start.replace(tzinfo=UTC)
    fires = first(40, "cron", expr, tz, after, policy)
    assert all(f.at > after for f in fires)
    assert all(b.at > a.at for a, b in itertools.pairwise(fires))


@settings(max_examples=80, deadline=None)
@given(
    st.sampled_from(["UTC", "America/New_York", "Australia/Lord_Howe"]),
    st.sampled_from(["*/7 * * * *", "0,30 1,2,3 * * *", "*/20 * * * * *", "@hourly"]),
    st.datetimes(min_value=dt.datetime(2026, 1, 1), max_value=dt.datetime(2027, 1, 1)),
    st.integers(-7200, 7200),
    st.integers(1, 4),
)
def test_fires_computed_ahead_answer_as_the_schedule(
    tz: str, expr: str, start: dt.datetime, shift: int, count: int
) -> None:
    """Whatever is asked of an Ahead (before its start, inside or past its fires), the schedule gives the same."""
    schedule = parse("cron", expr, tz, DstPolicy(nonexistent="shift", repeated="both"))
    assert schedule is not None
    begin = start.replace(tzinfo=UTC)
    ahead = Ahead(schedule, begin, count)
    after = begin + dt.timedelta(seconds=shift)
    assert list(itertools.islice(ahead.fires_after(after), 6)) == list(itertools.islice(schedule.fires_after(after), 6))
    assert ahead.next_fire(after) == schedule.next_fire(after)
    assert ahead.kind == "cron"


def test_fires_ahead_of_a_schedule_that_ends() -> None:
    schedule = parse("once", "2026-03-01T10:00:00Z")
    assert schedule is not None
    ahead = Ahead(schedule, NEW_YEAR)
    assert ahead.ended
    assert [f.at for f in ahead.fires_after(NEW_YEAR)] == [utc(2026, 3, 1, 10)]
    assert ahead.next_fire(utc(2026, 3, 1, 10)) is None


# -- rrule, once, event -------------------------------------------------------------------------------


def test_rrule_with_exdate_and_rdate_in_local_time() -> None:
    text = (
        "DTSTART:20260105T090000\nRRULE:FREQ=WEEKLY;BYDAY=MO,WE;COUNT=4\nEXDATE:20260107T090000\nRDATE:20260110T120000"
    )
    fires = [f.at for f in first(10, "rrule", text, "Europe/Chisinau", utc(2026, 1, 1))]
    tz = "Europe/Chisinau"
    assert fires == [
        local(tz, 2026, 1, 5, 9),
        local(tz, 2026, 1, 10, 12),
        local(tz, 2026, 1, 12, 9),
        local(tz, 2026, 1, 14, 9),
    ]


def test_rrule_across_spring_forward_records_dst_skip() -> None:
    fires = first(3, "rrule", "DTSTART:20260306T023000\nRRULE:FREQ=DAILY", "America/New_York", utc(2026, 3, 7, 12))
    assert fires[0].dst_skipped and fires[0].at == local("America/New_York", 2026, 3, 8, 3, 0)


def test_once_fires_once_in_its_zone() -> None:
    assert [f.at for f in first(5, "once", "2026-06-15T09:00:00", "Europe/Chisinau")] == [
        local("Europe/Chisinau", 2026, 6, 15, 9)
    ]
    assert [f.at for f in first(5, "once", "2026-06-15T09:00:00Z", "Europe/Chisinau")] == [utc(2026, 6, 15, 9)]
    assert first(5, "once", "2025-06-15T09:00:00Z") == []


def test_event_schedules_never_fire_on_time() -> None:
    assert first(3, "event", "order-created") == []
    schedule = parse("event", None)
    assert schedule is not None and schedule.expr == ""
    assert parse(None, None) is None


@pytest.mark.parametrize(
    ("kind", "expr", "tz", "field", "part"),
    [
        ("cron", "61 * * * *", "UTC", "scheduleExpr", "invalid cron"),
        ("cron", "* * *", "UTC", "scheduleExpr", "5 fields"),
        ("cron", "0 0 30 2 *", "UTC", "scheduleExpr", "never fires"),
        ("cron", None, "UTC", "scheduleExpr", "required"),
        ("cron", "* * * * *", "Mars/Olympus", "timezone", "unknown IANA"),
        ("rrule", "RRULE:FREQ=DAILY", "UTC", "scheduleExpr", "DTSTART"),
        ("rrule", "DTSTART;TZID=Europe/Paris:20260101T090000\nRRULE:FREQ=DAILY", "UTC", "scheduleExpr", "TZID"),
        ("rrule", "DTSTART:20260101T090000\nRRULE:FREQ=SOMETIMES", "UTC", "scheduleExpr", "RFC 5545"),
        ("once", "next tuesday", "UTC", "scheduleExpr", "RFC 3339"),
        ("hourly", "x", "UTC", "scheduleKind", "cron, rrule, once or event"),
    ],
)
def test_invalid_schedules_name_the_field(kind: str, expr: str | None, tz: str, field: str, part: str) -> None:
    with pytest.raises(ScheduleError) as err:
        parse(kind, expr, tz, now=utc(2026, 1, 1))
    assert err.value.field == field
    assert part in err.value.message


# -- jitter and snooze -------------------------------------------------------------------------------


@given(st.text(min_size=1, max_size=20), st.integers(0, 3600))
def test_jitter_is_stable_and_bounded(name: str, jitter: int) -> None:
    a = jitter_offset("ns", name, jitter)
    assert a == jitter_offset("ns", name, jitter)
    assert dt.timedelta(0) <= a <= dt.timedelta(seconds=jitter)


def test_jitter_spreads_tasks() -> None:
    offsets = {jitter_offset("ns", f"task-{i}", 60) for i in range(100)}
    assert len(offsets) > 90


def test_snooze_bounds() -> None:
    now = utc(2026, 1, 1)
    assert snooze_until(now, 1) == now + dt.timedelta(seconds=1)
    assert snooze_until(now, 604800) == now + dt.timedelta(weeks=1)
    for bad in (0, -5, 604801):
        with pytest.raises(ScheduleError) as err:
            snooze_until(now, bad)
        assert err.value.field == "delay_seconds"
