"""What a chaos scenario counts at the end: runs lost, stuck or ended wrongly, and limits exceeded."""

from __future__ import annotations

import datetime as dt
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from tests.chaos.jobwatch import SeenJob
from tests.integration.kube import Kube
from tests.integration.timing import ENDED, exceedances, parse_time

Run = dict[str, Any]
# Job timestamps have second resolution: one Job ending and the next starting in the same second look
# like an overlap, so each Job span loses its first second (as in test_queueing's check_limit).
JOB_SLACK = dt.timedelta(seconds=1)


@dataclass(frozen=True)
class Expected:
    phase: str
    end_reason: str
    attempts: int = 1


@dataclass
class Outcome:
    lost: list[str]
    stuck: list[str]
    wrong_end: list[str]

    def counts(self) -> dict[str, int]:
        return {"lost": len(self.lost), "stuck": len(self.stuck), "wrong_end": len(self.wrong_end)}

    def explain(self) -> str:
        return f"lost {self.lost[:5]}, stuck {self.stuck[:5]}, wrong end {self.wrong_end[:5]}"


def phase(run: Run | None) -> str:
    return str(((run or {}).get("status") or {}).get("phase") or "")


def wait_ended(kube: Kube, ns: str, names: set[str], timeout: float, interval: float = 1.0) -> dict[str, Run]:
    """The runs once all of `names` ended, or as they are when `timeout` runs out (the stuck ones show then)."""
    deadline = time.monotonic() + timeout
    while True:
        runs = {r["metadata"]["name"]: r for r in kube.runs(ns)}
        if all(phase(runs.get(n)) in ENDED for n in names) or time.monotonic() > deadline:
            return runs
        time.sleep(interval)


def outcome(runs: dict[str, Run], expected: dict[str, Expected]) -> Outcome:
    out = Outcome([], [], [])
    for name, want in sorted(expected.items()):
        run = runs.get(name)
        if run is None:
            out.lost.append(name)
            continue
        status = run.get("status") or {}
        if status.get("phase") not in ENDED:
            out.stuck.append(f"{name}:{status.get('phase')}")
            continue
        got = (status.get("phase"), status.get("endReason"), status.get("attempt") or 1)
        if got != (want.phase, want.end_reason, want.attempts):
            out.wrong_end.append(f"{name}:{got}: {status.get('message')}")
    return out


def run_violations(runs: list[Run], group_of: dict[str, str], limits: dict[str, int]) -> int:
    """Admissions that took a group (concurrency key or agent) above its limit, from admittedAt..endTime."""
    spans: dict[str, list[tuple[dt.datetime, dt.datetime]]] = defaultdict(list)
    for run in runs:
        status = run.get("status") or {}
        group = group_of.get(run["spec"]["taskRef"]["name"])
        if group and status.get("admittedAt") and status.get("endTime"):
            spans[group].append((parse_time(status["admittedAt"]), parse_time(status["endTime"])))
    return sum(exceedances(spans[g], limits[g]) for g in spans)


def job_violations(jobs: list[SeenJob], group_of: dict[str, str], limits: dict[str, int]) -> int:
    """Job creations that took a group above its limit, from the Jobs' own creation and end times."""
    spans: dict[str, list[tuple[dt.datetime, dt.datetime]]] = defaultdict(list)
    for job in jobs:
        group = group_of.get(job.task)
        if group and job.ended is not None and job.ended > job.created + JOB_SLACK:
            spans[group].append((job.created + JOB_SLACK, job.ended))
    return sum(exceedances(spans[g], limits[g]) for g in spans)
