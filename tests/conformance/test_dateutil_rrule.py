"""python-dateutil's rrule tests, as the RFC 5545 text of a Task."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import pytest

from taskops.domain.scheduling.recurrence import ScheduleError, parse
from tests.conformance.vectors import UTC, cases, wall

FILE = "dateutil_rrule.yaml"
BEFORE_ALL = dt.datetime(1900, 1, 1, tzinfo=UTC)


def check_fires(case: dict[str, Any]) -> None:
    schedule = parse("rrule", case["text"], "UTC", now=dt.datetime(2026, 1, 1, tzinfo=UTC))
    assert schedule is not None
    want = [wall(text).replace(tzinfo=UTC) for text in case["fires"]]
    # Every upstream case is finite (COUNT or UNTIL): one more fire is asked for, none may come.
    fires = list(itertools.islice(schedule.fires_after(BEFORE_ALL), len(want) + 1))
    assert [f.at for f in fires] == want


@pytest.mark.parametrize("case", cases(FILE))
def test_dateutil_rrule(case: dict[str, Any]) -> None:
    check_fires(case)


@pytest.mark.parametrize("case", cases(FILE, "extra"))
def test_dateutil_rrulestr_forms(case: dict[str, Any]) -> None:
    check_fires(case)


@pytest.mark.parametrize("case", cases(FILE, "rejected"))
def test_dateutil_rejected_rule_is_refused_when_written(case: dict[str, Any]) -> None:
    """Refused by parse, naming the field: never accepted and then failing at a fire."""
    with pytest.raises(ScheduleError) as err:
        parse("rrule", case["text"], "UTC", now=dt.datetime(2026, 1, 1, tzinfo=UTC))
    assert err.value.field == "scheduleExpr"
