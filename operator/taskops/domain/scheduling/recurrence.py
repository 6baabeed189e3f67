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

Every search is bounded (docs/security.md, section 2): a tenant's expression may
describe dates that never come (`BYMONTH=2;BYMONTHDAY=31`), and dateutil would
look for them until the year 9999 inside one `next()`. Each `fires_after` call
gets a budget of steps and of wall time; each candidate and each period dateutil
examines spends from it, and a search that runs out raises ScheduleError.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import functools
import heapq
import itertools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadCronError, CroniterBadDateError, croniter
from dateutil import rrule

from taskops.domain.resources import timefmt
from taskops.domain.resources.clock import thread_cpu
from taskops.domain.resources.task import DstPolicy, ScheduleKind

UTC = dt.UTC
# Offsets change by at most two hours at a DST transition (30 minutes on Lord Howe Island).
_DST_MARGIN = dt.timedelta(hours=3)
_CRON_MACROS = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
# The budget of one search (one `fires_after` call). A step is one candidate time, or one day
# dateutil filters out (a year it filters costs a year's days). Normal schedules spend a few
# steps per fire; the rarest that still fires (29 February on a Monday, every 28 years) spends
# about 10,000. 50,000 steps take 0.1 to 0.3 s of CPU.
SEARCH_STEPS = 50_000
_EPOCH = dt.datetime(1900, 1, 2)  # noqa: DTZ001 -- wall-clock time
SEARCH_SECONDS = 1.0


class ScheduleError(ValueError):
    """An invalid schedule; `field` names the offending spec field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class _Budget:
    """What one search may still spend: steps, and CPU seconds of the thread running it.

    CPU time, not wall time: the bound is on the work a schedule costs the operator. A wall-clock bound
    made a valid schedule invalid on a busy machine (the same search, stretched by other processes)."""

    __slots__ = ("deadline", "steps")

    def __init__(self, steps: int = SEARCH_STEPS, seconds: float = SEARCH_SECONDS) -> None:
        self.steps = steps
        self.deadline = thread_cpu() + seconds

    def spend(self, steps: int = 1) -> None:
        self.steps -= steps
        if self.steps < 0 or thread_cpu() > self.deadline:
            raise ScheduleError(
                "scheduleExpr",
                f"no fire found within the search bound ({SEARCH_STEPS} steps, {SEARCH_SECONDS:g} s of CPU): the "
                "expression matches no date, or too rarely (e.g. BYMONTH=2;BYMONTHDAY=31 never matches)",
            )


# The budget of the search running in this thread or task; dateutil's periods spend from it.
_BUDGET: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar("schedule_budget", default=None)


def _spend(steps: int) -> None:
    budget = _BUDGET.get()
    if budget is not None:
        budget.spend(steps)


class _BoundedIterInfo(rrule._iterinfo):
    """dateutil's per-period helper, counting each period against the running search's budget.

    `rrule._iter` examines one period (a year, month, week or day, by FREQ) per loop and
    may loop to the year 9999 without yielding when no day of any period matches: a bound on
    the candidates we receive cannot stop it. Every period asks this helper for its days,
    so this is where the search is cut. A year costs its days (about what a day each costs).
    """

    def ydayset(self, year: int, month: int, day: int) -> Any:
        _spend(30)
        return super().ydayset(year, month, day)

    def mdayset(self, year: int, month: int, day: int) -> Any:
        _spend(3)
        return super().mdayset(year, month, day)

    def wdayset(self, year: int, month: int, day: int) -> Any:
        _spend(1)
        return super().wdayset(year, month, day)

    def ddayset(self, year: int, month: int, day: int) -> Any:
        _spend(1)
        return super().ddayset(year, month, day)


# rrule._iter builds its helper by this module-level name at each iteration.
rrule._iterinfo = _BoundedIterInfo  # type: ignore[misc]


def _bounded(candidates: Iterable[dt.datetime], budget: _Budget) -> Iterator[dt.datetime]:
    """`candidates`, each one spending a step, with `budget` active while dateutil or croniter computes it."""
    it = iter(candidates)
    while True:
        token = _BUDGET.set(budget)
        try:
            candidate = next(it)
        except StopIteration:
            return
        finally:
            _BUDGET.reset(token)
        budget.spend()
        yield candidate


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
        for naive in _bounded(self._local_times(start), _Budget()):
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
        return (t for t in _rrule_search(self.expr, start) if t > start)

    def _rrule_begin(self) -> dt.datetime:
        """An instant before the rule's first possible date (a day before DTSTART; dates before 1900 are ignored)."""
        start = max(_rrule_text(self.expr).dtstart, _EPOCH) - dt.timedelta(days=1)
        return start.replace(tzinfo=self.tz).astimezone(UTC)

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

    def covers(self, last: dt.datetime, now: dt.datetime) -> bool:
        """Whether the fires in (last, now] and the next one after `now` are all computed already."""
        return self.start <= last and (self.ended or (bool(self.fires) and self.fires[-1].at > now))

    def fires_after(self, after: dt.datetime) -> Iterator[Fire]:
        if after < self.start:
            yield from self.schedule.fires_after(after)
            return
        yield from (fire for fire in self.fires if fire.at > after)
        if not self.ended:
            yield from self.schedule.fires_after(max(after, self.fires[-1].at))

    def next_fire(self, after: dt.datetime) -> Fire | None:
        return next(iter(self.fires_after(after)), None)

    def left(self, after: dt.datetime) -> int:
        """How many of the computed fires come after `after`."""
        return sum(1 for fire in self.fires if fire.at > after)


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
# Periods of a fixed length in wall-clock time: a rule without COUNT repeats with period INTERVAL of them.
_FIXED_PERIODS = {
    "SECONDLY": dt.timedelta(seconds=1),
    "MINUTELY": dt.timedelta(minutes=1),
    "HOURLY": dt.timedelta(hours=1),
    "DAILY": dt.timedelta(days=1),
    "WEEKLY": dt.timedelta(weeks=1),
}


@dataclass(frozen=True)
class _Rule:
    """One RRULE line of a schedule, with what rebasing its DTSTART needs."""

    rule: rrule.rrule
    dtstart: dt.datetime
    freq: str
    interval: int
    counted: bool


@dataclass(frozen=True)
class _RRuleText:
    dtstart: dt.datetime
    rules: tuple[_Rule, ...]
    rdates: tuple[dt.datetime, ...]
    exdates: tuple[dt.datetime, ...]


def _property(line: str) -> str:
    """The property name of one RFC 5545 line (dateutil reads a line without a name as an RRULE)."""
    return line.split(":", 1)[0].split(";", 1)[0] if ":" in line else "RRULE"


@functools.lru_cache(maxsize=4096)
def _rrule_text(text: str) -> _RRuleText:
    """Validate RFC 5545 text and split it into its rules and dates (cached: a Task's text is searched often)."""
    if _TZ_IN_RRULE.search(text):
        raise ScheduleError(
            "scheduleExpr",
            "write DTSTART, RDATE and EXDATE as local times without TZID or Z; the task's timezone applies",
        )
    if "DTSTART" not in text.upper():
        raise ScheduleError("scheduleExpr", "an rrule schedule needs a DTSTART line, e.g. DTSTART:20260101T090000")
    # dateutil splits lines at any whitespace and reads them upper-cased.
    lines = text.upper().split()
    if any(_property(line) == "EXRULE" for line in lines):
        # RFC 5545 deprecates EXRULE; an EXRULE removing most dates makes every search walk them all.
        raise ScheduleError(
            "scheduleExpr",
            "EXRULE is not accepted (RFC 5545 deprecates it): exclude dates with EXDATE, or narrow the RRULE "
            "with BYxxx parts",
        )
    try:
        parsed = rrule.rrulestr(text.strip(), forceset=True)
        assert isinstance(parsed, rrule.rruleset)
        _check_time_parts(parsed)
        starts = [line for line in lines if _property(line) == "DTSTART"]
        # The first date of a daily rule counted once is its DTSTART, as dateutil reads it.
        dtstart = rrule.rrulestr(starts[0] + "\nRRULE:FREQ=DAILY;COUNT=1")[0]
        rules = []
        for line in lines:
            if _property(line) != "RRULE":
                continue
            one = rrule.rrulestr("\n".join([starts[0], line]))
            assert isinstance(one, rrule.rrule)
            parts = dict(p.split("=", 1) for p in line.split(":", 1)[-1].split(";") if "=" in p)
            rules.append(_Rule(one, dtstart, parts.get("FREQ", ""), int(parts.get("INTERVAL", "1")), "COUNT" in parts))
        return _RRuleText(
            dtstart=dtstart,
            rules=tuple(rules),
            # dateutil has parsed every RDATE and EXDATE form (VALUE=DATE, lists); the stubs omit these names.
            rdates=tuple(getattr(parsed, "_rdate", ())),
            exdates=tuple(getattr(parsed, "_exdate", ())),
        )
    except (ValueError, TypeError, IndexError) as exc:
        raise ScheduleError("scheduleExpr", f"invalid RFC 5545 text: {exc}") from exc


def _rebased(rule: _Rule, start: dt.datetime) -> rrule.rrule:
    """`rule` with its DTSTART moved forward by whole periods to at most `start`: the same dates after it.

    dateutil walks every period from DTSTART; a DTSTART years ago with FREQ=SECONDLY would be
    billions of them. Moving DTSTART by a multiple of INTERVAL periods keeps the periods'
    alignment and every default dateutil takes from DTSTART (time of day, weekday, day of month),
    so the dates from the new DTSTART on are the same. A COUNT counts from the real DTSTART:
    such rules are never moved (their dates are at most COUNT).
    """
    dtstart = rule.dtstart
    if rule.counted or dtstart >= start or rule.interval < 1:
        return rule.rule
    new: dt.datetime | None = None
    period = _FIXED_PERIODS.get(rule.freq)
    if period is not None:
        step = period * rule.interval
        new = dtstart + step * ((start - dtstart) // step)
    elif rule.freq == "MONTHLY" and dtstart.day <= 28:
        months = (start.year - dtstart.year) * 12 + start.month - dtstart.month
        shift = months // rule.interval * rule.interval
        while shift > 0:
            year, month = divmod(dtstart.year * 12 + dtstart.month - 1 + shift, 12)
            new = dtstart.replace(year=year, month=month + 1)
            if new <= start:
                break
            shift -= rule.interval
            new = None
    elif rule.freq == "YEARLY" and (dtstart.month, dtstart.day) != (2, 29):
        shift = (start.year - dtstart.year) // rule.interval * rule.interval
        while shift > 0:
            new = dtstart.replace(year=dtstart.year + shift)
            if new <= start:
                break
            shift -= rule.interval
            new = None
    if new is None or new <= dtstart:
        return rule.rule
    return rule.rule.replace(dtstart=new)


def _rrule_search(text: str, start: dt.datetime) -> rrule.rruleset:
    """The schedule's dates as a set whose iteration starts close to `start` (see `_rebased`)."""
    parts = _rrule_text(text)
    found = rrule.rruleset()
    for rule in parts.rules:
        found.rrule(_rebased(rule, start))
    for date in parts.rdates:
        found.rdate(date)
    for date in parts.exdates:
        found.exdate(date)
    return found


_DATE_PARTS: dict[str, None] = dict.fromkeys(
    ("bymonth", "bymonthday", "byyearday", "byweekno", "byweekday", "byeaster", "bysetpos")
)


def _check_time_parts(parsed: rrule.rruleset) -> None:
    """Raise ValueError for a rule whose INTERVAL never meets its BYHOUR/BYMINUTE/BYSECOND.

    dateutil finds that out only on its first step (`FREQ=MINUTELY;INTERVAL=120;BYHOUR=10,12`
    raises from the iterator, dateutil's testMinutelyBadComboRRule), which would be at the
    first fire, after the Task was accepted. The check depends on the time parts alone, so each
    rule is stepped twice without its date parts: a few steps, never a search for a date.
    """
    # The stubs do not declare the set's rules; dateutil has kept this name since 2.0.
    rules: list[rrule.rrule] = list(getattr(parsed, "_rrule", ()))
    for rule in rules:
        list(rule.replace(count=2, until=None, **_DATE_PARTS))  # type: ignore[arg-type]


def _parse_once(expr: str) -> dt.datetime:
    try:
        return timefmt.parse(expr)
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

    With `now`, a schedule that can never fire is rejected too (`0 0 30 2 *`, an RRULE that matches
    no date), and so is one whose next fire after `now` is not found within the search bound.
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
        _rrule_text(expr)
        schedule = Schedule("rrule", expr.strip(), tz, policy)
    else:
        _parse_once(expr)
        schedule = Schedule("once", expr.strip(), tz, policy)
    if now is not None and kind == "cron" and schedule.next_fire(now) is None:
        raise ScheduleError("scheduleExpr", f"{expr!r} never fires")
    if now is not None and kind == "rrule":
        # A rule whose dates are all past (UNTIL, COUNT) has ended and stays valid; one with no date at all
        # never fires. Both searches are bounded, and the one from `now` proves the next fire is found in time.
        begin = schedule._rrule_begin()
        if schedule.next_fire(min(now, begin)) is None:
            raise ScheduleError("scheduleExpr", "the rule matches no date: it never fires")
        schedule.next_fire(now)
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
