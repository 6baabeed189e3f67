"""Builders of Job and Pod objects for pure-logic tests."""

from __future__ import annotations

import datetime as dt
from typing import Any

T0 = dt.datetime(2026, 3, 1, 12, 0, 0, tzinfo=dt.UTC)


def stamp(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def job(
    name: str = "r-1",
    condition: str | None = None,
    reason: str | None = None,
    at: dt.datetime = T0,
    message: str | None = None,
) -> dict[str, Any]:
    conds = []
    if condition:
        conds.append(
            {
                "type": condition,
                "status": "True",
                "reason": reason or "",
                "message": message or "",
                "lastTransitionTime": stamp(at),
            }
        )
    return {"metadata": {"name": name, "namespace": "ns", "resourceVersion": "1"}, "status": {"conditions": conds}}


def pod(
    exit_code: int | None = None,
    reason: str | None = None,
    message: str | None = None,
    created: dt.datetime = T0,
    containers: int = 1,
) -> dict[str, Any]:
    statuses = []
    for i in range(containers):
        state: dict[str, Any] = {"running": {"startedAt": stamp(created)}}
        if exit_code is not None:
            term: dict[str, Any] = {"exitCode": exit_code if i == 0 else 0, "reason": reason or "Completed"}
            if message is not None:
                term["message"] = message
            state = {"terminated": term}
        statuses.append({"name": f"c{i}", "state": state})
    return {"metadata": {"name": "p", "creationTimestamp": stamp(created)}, "status": {"containerStatuses": statuses}}
