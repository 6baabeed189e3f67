"""Is a queue already full for a Run about to be created? The API's synchronous answer to `queue_full`.

The operator's admission pass (`admission.admit`) stays the authority: it ends a Run
`queue_full` when it finds the bound exceeded, which also covers two requests racing for
the last slot. This check only spares a caller a Run that would certainly end so: the
key (or agent) is at its limit with Runs already admitted, and at least `maxQueued` Runs
already wait that the new one would not overtake (same or higher priority; FIFO within a
priority puts every existing waiter first).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from taskops.domain.resources.phases import WAITING_PHASES, is_terminal


@dataclass(frozen=True)
class Queue:
    """One concurrency key or agent the new Run would wait on: its field for an error, its limits."""

    kind: str  # "concurrency key" or "agent"
    name: str
    field: str  # "concurrencyKey" or "agent": where a Run's status records it
    limit: int
    max_queued: int | None


def key_bounds(task_specs: Iterable[Mapping[str, Any]], key: str) -> tuple[int, int | None]:
    """(limit, maxQueued) of a concurrency key: the smallest any Task sharing it declares (as the operator reads)."""
    limit: int | None = None
    bound: int | None = None
    for spec in task_specs:
        if spec.get("concurrencyKey") != key:
            continue
        declared = int(spec.get("concurrencyLimit") or 1)
        limit = declared if limit is None else min(limit, declared)
        if spec.get("maxQueued") is not None:
            bound = int(spec["maxQueued"]) if bound is None else min(bound, int(spec["maxQueued"]))
    return (limit or 1), bound


def full_reason(runs: Iterable[Mapping[str, Any]], queues: list[Queue], priority: int) -> tuple[Queue, str] | None:
    """The first bounded queue among `queues` that is full for a new Run of `priority`, and why; else None.

    `runs`: the Runs of the namespace (raw objects), read once whatever the number of queues.
    """
    bounded = [q for q in queues if q.max_queued is not None]
    if not bounded:
        return None
    running = [0] * len(bounded)
    ahead = [0] * len(bounded)
    for run in runs:
        status = run.get("status") or {}
        phase = status.get("phase")
        if status.get("version") is None or is_terminal(phase):
            continue
        admitted = bool(status.get("admittedAt"))
        waiting = not admitted and phase in WAITING_PHASES
        if not (admitted or waiting):
            continue
        for i, q in enumerate(bounded):
            if status.get(q.field) != q.name:
                continue
            if admitted:
                running[i] += 1
            elif int(status.get("priority") or 0) >= priority:
                ahead[i] += 1
    for i, q in enumerate(bounded):
        assert q.max_queued is not None
        if running[i] >= q.limit and ahead[i] >= q.max_queued:
            reason = (
                f'queue full: {q.kind} "{q.name}" at {running[i]}/{q.limit} and {ahead[i]} runs already waiting '
                f"ahead of this one (maxQueued {q.max_queued})"
            )
            return q, reason
    return None
