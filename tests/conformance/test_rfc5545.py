"""RFC 5545 section 3.8.5.3: every RRULE example, with the occurrences the RFC lists."""

from __future__ import annotations

import datetime as dt
import itertools
import re
from typing import Any

import pytest

from taskops.domain.scheduling.recurrence import ScheduleError, parse, zone
from tests.conformance.vectors import UTC, cases, load

FILE = "rfc5545_rrule.yaml"
ZONE = load(FILE)["zone"]
_UNTIL_UTC = re.compile(r"UNTIL=(\d{8}T\d{6})Z")
_TZID = f";TZID={ZONE}:"


def translate(rfc: str, rule: str) -> str:
    """The example as a Task writes it: TZID dropped (timezone: America/New_York), UNTIL ...Z as local time."""

    def local_until(match: re.Match[str]) -> str:
        at = dt.datetime.strptime(match.group(1), "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
        return "UNTIL=" + at.astimezone(zone(ZONE)).strftime("%Y%m%dT%H%M%S")

    return "\n".join([*(line.replace(_TZID, ":") for line in rfc.splitlines()), _UNTIL_UTC.sub(local_until, rule)])


def expand(entry: str, time_of_day: dt.time) -> list[dt.datetime]:
    """One occurrence entry: a date, a date and time, or a range "A..B" with an optional "/n" (days) or "/nm"."""
    first, _, rest = entry.partition("..")
    if not rest:
        return [_at(first, time_of_day)]
    last, _, step = rest.partition("/")
    delta = dt.timedelta(minutes=int(step[:-1])) if step.endswith("m") else dt.timedelta(days=int(step or 1))
    start, end = _at(first, time_of_day), _at(last, time_of_day)
    return [start + delta * i for i in range((end - start) // delta + 1)]


def _at(text: str, time_of_day: dt.time) -> dt.datetime:
    value = dt.datetime.fromisoformat(text)
    return value if "T" in text else dt.datetime.combine(value.date(), time_of_day)


def expected_instants(case: dict[str, Any]) -> list[dt.datetime]:
    dtstart = re.search(r"DTSTART[^:]*:(\d{8}T\d{6})", case["rfc"])
    assert dtstart is not None
    time_of_day = dt.datetime.strptime(dtstart.group(1), "%Y%m%dT%H%M%S").time()
    excluded = {dt.datetime.fromisoformat(t) for t in case.get("not_in_rule", [])}
    walls = [w for entry in case["occurrences"] for w in expand(entry, time_of_day) if w not in excluded]
    # None of the RFC's occurrences falls in a DST gap or fold: each maps to one instant.
    return [w.replace(tzinfo=zone(ZONE)).astimezone(UTC) for w in walls]


@pytest.mark.parametrize("case", cases(FILE))
def test_rfc5545_example(case: dict[str, Any]) -> None:
    want = expected_instants(case)
    assert want == sorted(set(want)), "the transcribed occurrences are in order, each once"
    assert case["rules"], "an example without its rule checks nothing"
    for rule in case["rules"]:
        with pytest.raises(ScheduleError) as err:
            parse("rrule", "\n".join([case["rfc"], rule]), ZONE)
        assert err.value.field == "scheduleExpr" and "TZID" in err.value.message
        schedule = parse("rrule", translate(case["rfc"], rule), ZONE)
        assert schedule is not None
        count = len(want) if case.get("forever") else len(want) + 1  # a finite example ends where the RFC says
        fires = list(itertools.islice(schedule.fires_after(dt.datetime(1990, 1, 1, tzinfo=UTC)), count))
        assert [f.at for f in fires] == want
        assert not any(f.dst_skipped for f in fires)


def test_every_example_is_here() -> None:
    """Section 3.8.5.3 has 39 examples (three with an alternative rule): none is left out."""
    examples = load(FILE)["cases"]
    assert len(examples) == 39
    assert sum(len(c["rules"]) for c in examples) == 42
