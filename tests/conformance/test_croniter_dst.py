"""croniter's DST and time zone tests, under every DST policy."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from taskops.domain.resources.task import DstPolicy
from taskops.domain.scheduling.recurrence import Fire, ScheduleError, parse, zone
from tests.conformance.vectors import UTC, cases, instant, wall

FILE = "croniter_dst.yaml"
POLICIES = [DstPolicy(nonexistent=n, repeated=r) for n in ("skip", "shift") for r in ("first", "last", "both")]  # type: ignore[arg-type]


def expected(case: dict[str, Any], policy: DstPolicy) -> list[Fire]:
    taskops = case.get("taskops", {})
    listed = taskops.get(policy.nonexistent) or taskops.get(policy.repeated) or case["fires"]
    fires = []
    for text in listed:
        at, _, mark = text.partition(" ")
        fires.append(Fire(instant(at), dst_skipped=mark == "dst_skipped"))
    return fires


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: f"{p.nonexistent}-{p.repeated}")
@pytest.mark.parametrize("case", cases(FILE))
def test_croniter_vector(case: dict[str, Any], policy: DstPolicy) -> None:
    start = wall(case["start"]).replace(tzinfo=zone(case["zone"])).astimezone(UTC)
    expr = case["expr"]
    if "rejects" in case.get("taskops", {}):
        with pytest.raises(ScheduleError) as err:
            parse("cron", expr, case["zone"], policy)
        assert err.value.field == case["taskops"]["rejects"]
        expr = case["taskops"]["written"]
    schedule = parse("cron", expr, case["zone"], policy)
    assert schedule is not None
    want = expected(case, policy)
    assert list(itertools.islice(schedule.fires_after(start), len(want))) == want
