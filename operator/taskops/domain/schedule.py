"""When a Task fires: cron, RRULE, once and event schedules in a time zone, with DST rules.

Pure: every function takes the instants it needs and returns instants (aware,
UTC). Schedules are evaluated in local wall-clock time and each local time is
then mapped to instants:

- a local time that does not exist (clocks spring forward over it) gives one
  fire at the first valid instant after it, marked `dst_skipped` under the
  `skip` policy (the Run records it and never runs) or a normal fire under `shift`;
  when a local time that does exist maps to that same instant (the gap ends on a
  scheduled time, as `0 * * * *` does at 03:00), the real fire wins and the
  skipped times are absorbed into it: a Run name is one per instant;
- a local time that occurs twice (clocks fall back over it) gives the `first`
  instant, the `last`, or `both`.
"""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadCronError, CroniterBadDateError, croniter
from dateutil import rrule

UTC = dt.UTC
ScheduleKind = Literal["cron", "rrule", "once", "event"]
# Offsets change by at most two hours at a DST transition (30 minutes on Lord Howe Island).
_DST_MARGIN = dt.timedelta(hours=3)
_CRON_MACROS = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}


class ScheduleError(ValueError):
    """An invalid schedule; `field` names the offending spec field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class DstPolicy:
    nonexistent: Literal["skip", "shift"] = "skip"
    repeated: Literal["first", "last", "both"] = "first"


@dataclass(frozen=True, order=True)
class Fire:
    """One fire: the instant a Run is for, and whether DST made it a `dst_skipped` record."""

    at: dt.datetime
    dst_skipped: bool = False


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ScheduleError("timezone", f"unknown IANA time zone {name!r}") from exc


def _local(at: dt.datetime, tz: ZoneInfo) -> dt.datetime:
    return at.astimezone(tz).replace(tzinfo=None)


def _gap_end(naive: dt.datetime, tz: ZoneInfo, lo: dt.datetime, hi: dt.datetime) -> dt.datetime:
    """The first instant in [lo, hi] whose local time is past `naive` (the end of a DST gap)."""
    lo_s, hi_s = int(lo.timestamp()), int(hi.timestamp()) + 1
    while lo_s < hi_s:
        mid = (lo_s + hi_s) // 2
        if _local(dt.datetime.fromtimestamp(mid, UTC), tz) > naive:
            hi_s = mid
        else:
            lo_s = mid + 1
    return dt.datetime.fromtimestamp(lo_s, UTC)


def resolve(naive: dt.datetime, tz: ZoneInfo, policy: DstPolicy) -> list[Fire]:
    """Map one local wall-clock time to its fire instants under `policy`."""
    early = naive.replace(tzinfo=tz, fold=0).astimezone(UTC)
    late = naive.replace(tzinfo=tz, fold=1).astimezone(UTC)
    if _local(early, tz) != naive:
        # Nonexistent: fold=0 applies the offset before the gap, fold=1 the one after.
        at = _gap_end(naive, tz, min(early, late), max(early, late))
        return [Fire(at, dst_skipped=policy.nonexistent == "skip")]
    if early == late:
        return [Fire(early)]
    if policy.repeated == "first":
        return [Fire(early)]
    if policy.repeated == "last":
        return [Fire(late)]
    return [Fire(early), Fire(late)]


@dataclass(frozen=True)
class Schedule:
    """A parsed schedule. `fires_after` yields fire instants in ascending order."""

    kind: ScheduleKind
    expr: str
    tz: ZoneInfo
    policy: DstPolicy

    def fires_after(self, after: dt.datetime) -> Iterator[Fire]:
        """Fires strictly after `after` (an aware instant), ascending, without end for open schedules."""
        if self.kind == "event":
            return
        if self.kind == "once":
            yield from (f for f in self._once() if f.at > after)
            return
        # Near a DST change, local time is not monotonic in real time: look back far enough to
        # see every local time that maps past `after`. Elsewhere, start right at `after`.
        start = _local(after, self.tz)
        if not self._offset_stable(after):
            start -= _DST_MARGIN
        # Ordered by instant, then real fires before dst_skipped records: several fires at one
        # instant make one, and it is a real fire if any of them is (the gap ends on a scheduled
        # time, e.g. `0 * * * *` at 03:00 after 02:00 was skipped), so no time that exists is lost.
        pending: list[tuple[dt.datetime, bool, int, Fire]] = []
        counter = itertools.count()
        previous: dt.datetime | None = None
        for naive in self._local_times(start):
            for fire in resolve(naive, self.tz, self.policy):
                if fire.at > after:
                    heapq.heappush(pending, (fire.at, fire.dst_skipped, next(counter), fire))
            instant = naive.replace(tzinfo=self.tz).astimezone(UTC)
            # Later local times map past `bound`: what is below it can be yielded in order.
            bound = instant if self._offset_stable(instant) else instant - _DST_MARGIN
            while pending and pending[0][0] <= bound:
                fire = heapq.heappop(pending)[3]
                if fire.at != previous:
                    yield fire
                previous = fire.at
        while pending:
            fire = heapq.heappop(pending)[3]
            if fire.at != previous:
                yield fire
            previous = fire.at

    def _offset_stable(self, at: dt.datetime) -> bool:
        """No DST change within the margin around `at` (changes are months apart)."""
        return (at - _DST_MARGIN).astimezone(self.tz).utcoffset() == (at + _DST_MARGIN).astimezone(self.tz).utcoffset()

    def next_fire(self, after: dt.datetime) -> Fire | None:
        return next(iter(self.fires_after(after)), None)

    # -- local wall-clock candidates per kind -------------------------------------------

    def _local_times(self, start: dt.datetime) -> Iterable[dt.datetime]:
        if self.kind == "cron":
            return _cron_times(self.expr, start)
        return _rrule_set(self.expr).xafter(start, inc=False)

    def _once(self) -> list[Fire]:
        when = _parse_once(self.expr)
        if when.tzinfo is not None:
            return [Fire(when.astimezone(UTC))]
        return resolve(when, self.tz, self.policy)


class FireSource(Protocol):
    """What `firing.plan` needs of a schedule: a `Schedule`, or an `Ahead` of one."""

    @property
    def kind(self) -> ScheduleKind: ...

    def fires_after(self, after: dt.datetime) -> Iterator[Fire]: ...

    def next_fire(self, after: dt.datetime) -> Fire | None: ...


class Ahead:
    """The next `count` fires of `schedule` after `start`, computed before they are due.

    A fire then costs no cron or RRULE arithmetic at its instant, when a thousand
    Tasks may share it; asked about instants before `start` or past the computed
    fires, it falls back to the schedule itself, so it always answers as the schedule does.
    """

    def __init__(self, schedule: Schedule, start: dt.datetime, count: int = 3) -> None:
        self.schedule = schedule
        self.start = start
        self.fires = list(itertools.islice(schedule.fires_after(start), count))
        self.ended = len(self.fires) < count

    @property
    def kind(self) -> ScheduleKind:
        return self.schedule.kind

    def fires_after(self, after: dt.datetime) -> Iterator[Fire]:
        if after < self.start:
            yield from self.schedule.fires_after(after)
            return
        yield from (fire for fire in self.fires if fire.at > after)
        if not self.ended:
            yield from self.schedule.fires_after(max(after, self.fires[-1].at))

    def next_fire(self, after: dt.datetime) -> Fire | None:
        return next(iter(self.fires_after(after)), None)


def _cron_fields(expr: str) -> tuple[str, bool]:
    text = " ".join(expr.split())
    if text in _CRON_MACROS:
        return text, False
    n = len(text.split(" "))
    if n not in (5, 6):
        raise ScheduleError("scheduleExpr", f"a cron expression has 5 fields (or 6 with seconds first), not {n}")
    return text, n == 6


def _cron_times(expr: str, start: dt.datetime) -> Iterator[dt.datetime]:
    text, seconds = _cron_fields(expr)
    it = croniter(text, start, second_at_beginning=seconds)
    while True:
        try:
            yield it.get_next(dt.datetime)
        except CroniterBadDateError:
            return


_TZ_IN_RRULE = re.compile(r"(TZID=|\d{8}T\d{6}Z)", re.IGNORECASE)


def _rrule_set(text: str) -> rrule.rruleset:
    if _TZ_IN_RRULE.search(text):
        raise ScheduleError(
            "scheduleExpr",
            "write DTSTART, RDATE and EXDATE as local times without TZID or Z; the task's timezone applies",
        )
    if "DTSTART" not in text.upper():
        raise ScheduleError("scheduleExpr", "an rrule schedule needs a DTSTART line, e.g. DTSTART:20260101T090000")
    try:
        parsed = rrule.rrulestr(text.strip(), forceset=True)
    except (ValueError, TypeError) as exc:
        raise ScheduleError("scheduleExpr", f"invalid RFC 5545 text: {exc}") from exc
    assert isinstance(parsed, rrule.rruleset)
    _check_time_parts(parsed)
    return parsed


_DATE_PARTS: dict[str, None] = dict.fromkeys(
    ("bymonth", "bymonthday", "byyearday", "byweekno", "byweekday", "byeaster", "bysetpos")
)


def _check_time_parts(parsed: rrule.rruleset) -> None:
    """Reject a rule whose INTERVAL never meets its BYHOUR/BYMINUTE/BYSECOND at parse time.

    dateutil finds that out only on its first step (`FREQ=MINUTELY;INTERVAL=120;BYHOUR=10,12`
    raises from the iterator, dateutil's testMinutelyBadComboRRule), which would be at the
    first fire, after the Task was accepted. The check depends on the time parts alone, so each
    rule is stepped twice without its date parts: a few steps, never a search for a date.
    """
    # The stubs do not declare the set's rules; dateutil has kept these names since 2.0.
    rules: list[rrule.rrule] = [*getattr(parsed, "_rrule", ()), *getattr(parsed, "_exrule", ())]
    for rule in rules:
        try:
            list(rule.replace(count=2, until=None, **_DATE_PARTS))  # type: ignore[arg-type]
        except ValueError as exc:
            raise ScheduleError("scheduleExpr", f"invalid RFC 5545 text: {exc}") from exc


def _parse_once(expr: str) -> dt.datetime:
    try:
        return dt.datetime.fromisoformat(expr.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise ScheduleError("scheduleExpr", f"a once schedule is an RFC 3339 datetime, got {expr!r}") from exc


def parse(
    kind: str | None,
    expr: str | None,
    timezone: str | None = None,
    policy: DstPolicy | None = None,
    now: dt.datetime | None = None,
) -> Schedule | None:
    """Validate and parse a Task's schedule; None when the Task has no schedule of its own.

    With `now`, a schedule that can never fire again is rejected too (e.g. `0 0 30 2 *`).
    """
    if kind is None:
        return None
    tz = zone(timezone)
    policy = policy or DstPolicy()
    if kind == "event":
        # The event name; empty means "the Task's own name" (the caller knows it).
        return Schedule("event", (expr or "").strip(), tz, policy)
    if kind not in ("cron", "rrule", "once"):
        raise ScheduleError("scheduleKind", f"must be cron, rrule, once or event, not {kind!r}")
    if not expr or not expr.strip():
        raise ScheduleError("scheduleExpr", f"required for a {kind} schedule")
    if kind == "cron":
        text, seconds = _cron_fields(expr)
        try:
            croniter(text, dt.datetime(2000, 1, 1), second_at_beginning=seconds)  # noqa: DTZ001 -- wall-clock time
        except (CroniterBadCronError, ValueError, KeyError) as exc:
            raise ScheduleError("scheduleExpr", f"invalid cron expression {expr!r}: {exc}") from exc
        schedule = Schedule("cron", text, tz, policy)
    elif kind == "rrule":
        _rrule_set(expr)
        schedule = Schedule("rrule", expr.strip(), tz, policy)
    else:
        _parse_once(expr)
        schedule = Schedule("once", expr.strip(), tz, policy)
    if now is not None and kind == "cron" and schedule.next_fire(now) is None:
        raise ScheduleError("scheduleExpr", f"{expr!r} never fires")
    return schedule


def jitter_offset(namespace: str, name: str, jitter_seconds: int) -> dt.timedelta:
    """A stable per-Task offset in [0, jitter_seconds]: the same Task always gets the same one."""
    if jitter_seconds <= 0:
        return dt.timedelta(0)
    import hashlib

    digest = int(hashlib.sha256(f"{namespace}/{name}".encode()).hexdigest()[:12], 16)
    return dt.timedelta(milliseconds=digest % (jitter_seconds * 1000 + 1))


MAX_SNOOZE = dt.timedelta(weeks=1)


def snooze_until(now: dt.datetime, delay_seconds: int) -> dt.datetime:
    """`now + delay`, for a delay of 1 s to 1 week (seed 001's bound)."""
    if not 1 <= delay_seconds <= MAX_SNOOZE.total_seconds():
        raise ScheduleError("delay_seconds", f"must be between 1 and {int(MAX_SNOOZE.total_seconds())}")
    return now + dt.timedelta(seconds=delay_seconds)
