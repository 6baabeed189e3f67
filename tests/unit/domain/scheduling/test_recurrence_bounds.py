"""Issue 18 section 2: no schedule expression, JSON value or resultSchema can stall the operator or the API.

Mainly domain/scheduling/recurrence.py; also covers domain/resources/jsonbounds.py, domain/resources/results.py
and domain/scheduling/taskstatus.py (the same bounds, end to end).
"""

from __future__ import annotations

import datetime as dt
import itertools
import time
from typing import Any

import pytest
from dateutil import rrule

from taskops.domain.resources import jsonbounds
from taskops.domain.resources.results import check_result, schema_error
from taskops.domain.resources.task import Task
from taskops.domain.scheduling import recurrence
from taskops.domain.scheduling.recurrence import Ahead, ScheduleError, parse
from taskops.domain.scheduling.taskstatus import task_status
from tests import builders

UTC = dt.UTC
NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
# Unbounded, each of these keeps dateutil inside one `next()` for 10 s to hours (measured: 7.7 s for the DAILY
# one, 18 s for the EXRULE one, over 35 s for SECONDLY from 1900 with a COUNT).
NEVER = [
    "DTSTART:20260101T090000\nRRULE:FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=31",
    "DTSTART:20260101T090000\nRRULE:FREQ=DAILY;BYMONTH=2;BYMONTHDAY=31",
    "DTSTART:20260101T090000\nRRULE:FREQ=SECONDLY;BYMONTH=2;BYMONTHDAY=31",
    "DTSTART:20260101T090000\nRRULE:FREQ=MONTHLY;BYMONTH=4;BYMONTHDAY=31",
    "DTSTART:20260101T090000\nRRULE:FREQ=WEEKLY;BYMONTH=2;BYMONTHDAY=30",
    "DTSTART:20260101T090000\nRRULE:FREQ=DAILY;BYSETPOS=5;BYHOUR=1",
    "DTSTART:20260101T090000\nRRULE:FREQ=SECONDLY;INTERVAL=7;BYHOUR=0;BYMINUTE=0;BYMONTHDAY=31;BYMONTH=2",
    "DTSTART:20260101T090000\nRRULE:FREQ=MINUTELY;UNTIL=20990101T000000\nRRULE:FREQ=HOURLY;BYMONTH=6;BYYEARDAY=1",
    "DTSTART:19000101T000000\nRRULE:FREQ=SECONDLY;COUNT=2000000000",
]


def budget_seconds() -> float:
    # The CPU bound, plus room for starting and ending the search. CPU time of this thread, as the bound is:
    # a loaded machine stretches the wall time of the same search.
    return recurrence.SEARCH_SECONDS * 2 + 0.5


@pytest.mark.parametrize("expr", NEVER)
def test_a_never_firing_rrule_is_rejected_within_the_bound(expr: str) -> None:
    started = time.thread_time()
    with pytest.raises(ScheduleError) as caught:
        parse("rrule", expr, "UTC", now=NOW)
    assert time.thread_time() - started < budget_seconds()
    assert caught.value.field == "scheduleExpr"
    assert "never fires" in caught.value.message or "search bound" in caught.value.message


@pytest.mark.parametrize("expr", NEVER[:3])
def test_a_search_of_an_unchecked_schedule_is_cut_too(expr: str) -> None:
    # A Task written before this check (or by kubectl while the operator was down) is searched at a fire.
    s = parse("rrule", expr, "UTC")
    assert s is not None
    started = time.thread_time()
    with pytest.raises(ScheduleError, match="search bound"):
        s.next_fire(NOW)
    assert time.thread_time() - started < budget_seconds()


def test_the_bound_holds_inside_one_dateutil_step() -> None:
    # dateutil alone: one next() of this rule walks every day to the year 9999 without yielding.
    rule = rrule.rrulestr("DTSTART:20260101T090000\nRRULE:FREQ=DAILY;BYMONTH=2;BYMONTHDAY=31")
    token = recurrence._BUDGET.set(recurrence._Budget(steps=1000))
    try:
        with pytest.raises(ScheduleError):
            next(iter(rule))
    finally:
        recurrence._BUDGET.reset(token)


def test_exrule_is_not_accepted() -> None:
    with pytest.raises(ScheduleError, match="EXRULE is not accepted"):
        parse("rrule", "DTSTART:20260101T090000\nRRULE:FREQ=DAILY\nEXRULE:FREQ=DAILY")
    with pytest.raises(ScheduleError, match="EXRULE"):
        parse("rrule", "dtstart:20260101T090000 rrule:FREQ=DAILY exrule:FREQ=DAILY;BYDAY=MO")


def test_rare_but_real_schedules_still_fire() -> None:
    # 29 February on a Monday: every 28 years at most, the rarest the bound has to allow.
    s = parse(
        "rrule",
        "DTSTART:20260101T000000\nRRULE:FREQ=SECONDLY;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO;BYHOUR=0;BYMINUTE=0;BYSECOND=0",
        now=NOW,
    )
    assert s is not None
    fire = s.next_fire(NOW)
    assert fire is not None and fire.at == dt.datetime(2044, 2, 29, tzinfo=UTC)
    ended = parse("rrule", "DTSTART:20200101T000000\nRRULE:FREQ=DAILY;COUNT=3", now=NOW)
    assert ended is not None and ended.next_fire(NOW) is None  # ended, not invalid


def test_an_old_dtstart_with_a_fine_frequency_is_fast() -> None:
    # dateutil walks from DTSTART: every minute since 1900 is 66 million steps. The rule is rebased instead.
    s = parse("rrule", "DTSTART:19000101T000030\nRRULE:FREQ=MINUTELY;INTERVAL=7", now=NOW)
    assert s is not None
    started = time.thread_time()
    fires = [f.at for f in itertools.islice(s.fires_after(NOW), 3)]
    assert time.thread_time() - started < 0.5
    assert fires[0] > NOW and fires[0].second == 30
    origin = dt.datetime(1900, 1, 1, 0, 0, 30, tzinfo=UTC)
    assert all((f - origin) % dt.timedelta(minutes=7) == dt.timedelta(0) for f in fires)


# (rule, the instant searched after): dateutil itself computes the expected dates from the real DTSTART, so the
# fine frequencies search weeks after it and the coarse ones years.
REBASED = [
    ("RRULE:FREQ=SECONDLY;INTERVAL=7", "20241103T040506"),
    ("RRULE:FREQ=MINUTELY;INTERVAL=13;BYHOUR=3,4", "20241203T040506"),
    ("RRULE:FREQ=HOURLY;INTERVAL=5;BYDAY=TU,SA", "20250203T040506"),
    ("RRULE:FREQ=DAILY;INTERVAL=3;BYHOUR=9,17;BYSETPOS=-1", "20310203T040506"),
    ("RRULE:FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,FR;WKST=SU", "20310203T040506"),
    ("RRULE:FREQ=WEEKLY;INTERVAL=3", "20310203T040506"),
    ("RRULE:FREQ=MONTHLY;INTERVAL=5", "20310203T040506"),
    ("RRULE:FREQ=MONTHLY;INTERVAL=2;BYDAY=-1FR", "20310203T040506"),
    ("RRULE:FREQ=YEARLY;INTERVAL=3;BYWEEKNO=20;BYDAY=WE", "20410203T040506"),
    ("RRULE:FREQ=YEARLY;INTERVAL=2", "20410203T040506"),
    ("RRULE:FREQ=DAILY;COUNT=400", "20250203T040506"),
]


@pytest.mark.parametrize(("rule", "after"), REBASED)
@pytest.mark.parametrize("dtstart", ["20241015T101112", "20241031T235959", "20241029T000000"])
def test_rebasing_dtstart_keeps_every_date(rule: str, after: str, dtstart: str) -> None:
    text = f"DTSTART:{dtstart}\n{rule}"
    since = dt.datetime.strptime(after, "%Y%m%dT%H%M%S")
    expected = list(itertools.islice(rrule.rrulestr(text).xafter(since), 40))
    s = parse("rrule", text, "UTC")
    assert s is not None
    got = [f.at.replace(tzinfo=None) for f in itertools.islice(s.fires_after(since.replace(tzinfo=UTC)), 40)]
    assert got == expected


def test_rebasing_keeps_29_february_and_the_31st_as_they_are() -> None:
    for text in ("DTSTART:20000229T120000\nRRULE:FREQ=YEARLY", "DTSTART:20000131T120000\nRRULE:FREQ=MONTHLY"):
        expected = list(itertools.islice(rrule.rrulestr(text).xafter(NOW.replace(tzinfo=None)), 5))
        s = parse("rrule", text, "UTC", now=NOW)
        assert s is not None
        assert [f.at.replace(tzinfo=None) for f in itertools.islice(s.fires_after(NOW), 5)] == expected


def test_ahead_covers_only_what_it_computed() -> None:
    s = parse("cron", "*/10 * * * *", "UTC")
    assert s is not None
    ahead = Ahead(s, NOW)
    assert ahead.covers(NOW, NOW + dt.timedelta(minutes=25))
    assert not ahead.covers(NOW, NOW + dt.timedelta(minutes=30))  # the next fire after 12:30 is not computed
    assert not ahead.covers(NOW - dt.timedelta(seconds=1), NOW)


# -- JSON nesting -------------------------------------------------------------------------------


def nested(depth: int) -> Any:
    value: Any = 1
    for i in range(depth):
        value = {"k": value} if i % 2 else [value]
    return value


def test_json_depth_is_bounded_and_named() -> None:
    jsonbounds.check_depth(nested(jsonbounds.MAX_DEPTH))
    with pytest.raises(jsonbounds.TooDeep) as caught:
        jsonbounds.check_depth({"params": nested(jsonbounds.MAX_DEPTH)})
    assert caught.value.path.startswith("params.")
    with pytest.raises(jsonbounds.TooDeep):
        jsonbounds.loads("[" * 200_000 + "]" * 200_000)  # RecursionError in json.loads without the bound
    assert jsonbounds.loads('{"a": [1, {"b": 2}]}') == {"a": [1, {"b": 2}]}


# -- resultSchema ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schema", "says"),
    [
        ({"type": "nonsense"}, "nonsense"),
        ({"type": "object", "properties": {"a": {"type": "string", "pattern": "^(a+)+$"}}}, "pattern is not accepted"),
        ({"patternProperties": {".*a.*b": {}}}, "patternProperties is not accepted"),
        ({"$ref": "https://example.com/schema.json"}, "refers outside the schema"),
        (nested(100), "nested deeper"),
        ({"enum": list(range(20_000))}, "larger than"),
    ],
)
def test_a_bad_result_schema_is_named_and_never_evaluated(schema: Any, says: str) -> None:
    problem = schema_error(schema)
    assert problem is not None and says in problem
    # A reconcile that meets it (a Task written before this check) fails the Run with the reason; it never raises.
    _, error = check_result('{"a": "' + "a" * 4000 + '!"}', schema)
    assert error is not None and "resultSchema" in error


def test_a_deep_result_is_refused_not_crashed() -> None:
    _, error = check_result("[" * 2000 + "]" * 2000, {"type": "array"})
    assert error is not None and "nested deeper" in error
    assert check_result("[" * 2000 + "]" * 2000, None)[1] is None  # no schema: kept as text


def task(result_schema: Any) -> Task:
    return Task.model_validate(
        builders.task("t", metadata={"namespace": "n", "generation": 2}, resultSchema=result_schema)
    )


def test_the_task_says_whether_its_result_schema_is_valid() -> None:
    bad = task({"type": "nonsense"})
    status = task_status(bad, None, None, NOW, schema_error({"type": "nonsense"}))
    cond = next(c for c in status.conditions or [] if c.type == "ResultSchemaValid")
    assert (cond.status, cond.reason) == ("False", "InvalidResultSchema") and "spec.resultSchema" in cond.message
    good = task({"type": "object"})
    status = task_status(good, None, None, NOW, None)
    assert next(c for c in status.conditions or [] if c.type == "ResultSchemaValid").status == "True"
    none = task(None)
    none.status.conditions = status.conditions
    assert all(c.type != "ResultSchemaValid" for c in task_status(none, None, None, NOW).conditions or [])


def test_a_deep_document_from_the_api_server_is_cut_not_lost() -> None:
    import orjson

    deep = b"[" * 3000 + b'"x"' + b"]" * 3000
    page = b'{"items": [{"s": "a ] \\" [ {", "p": ' + deep + b'}, {"b": [2]}]}'
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(page)  # before: the whole page unreadable
    value = orjson.loads(jsonbounds.cut_deep(page))
    assert value["items"][1] == {"b": [2]} and value["items"][0]["s"] == 'a ] " [ {'
    with pytest.raises(jsonbounds.TooDeep):  # and the cut value is still refused where it is validated
        jsonbounds.check_depth(value["items"][0]["p"])
    assert jsonbounds.cut_deep(b'{"a": [1, {"b": "]"}]}') == b'{"a": [1, {"b": "]"}]}'


def test_deep_params_make_a_run_invalid_naming_where() -> None:
    from taskops.domain.resources.params import validate_params
    from taskops.domain.resources.paramspec import ParamSpec

    _, errors = validate_params([ParamSpec(name="p", type="json")], {"p": nested(100)})
    assert len(errors) == 1 and errors[0].location.startswith("spec.params.p.k.0.k")
    assert "nested deeper than 64 levels" in errors[0].message and errors[0].value is None
