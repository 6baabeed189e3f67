"""Admission: which pending Runs start now, and why the others wait. Pure and fast.

One pass over the pending Runs in queue order — higher priority first, then
FIFO (creation time, then name) — against what is already running per
concurrency key and per agent:

- a Run whose key or agent is at its limit because of Runs *already running*
  waits as BLOCKED (`concurrency key "db" at 2/2`);
- a Run that found capacity taken by higher-priority Runs admitted in this
  same pass waits as QUEUED, with its position;
- a Run beyond its key's or agent's queue bound ends `queue_full`;
- anything else is admitted, and counts against its key and agent at once.

A blocked Run never holds back a lower-priority Run on another key or agent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, NamedTuple

WaitPhase = Literal["BLOCKED", "QUEUED", "QUEUE_FULL"]


@dataclass(frozen=True, slots=True)
class Pending:
    key: tuple[str, str]  # (namespace, run name)
    priority: int
    created: str  # RFC 3339 creation time: sorts chronologically as text
    concurrency_key: str | None = None  # namespaced by the caller: "ns/key"
    agent: str | None = None  # namespaced by the caller: "ns/agent"

    def order(self) -> tuple[int, str, str, str]:
        return (-self.priority, self.created, self.key[0], self.key[1])


class Wait(NamedTuple):
    """Why a Run waits. The message is built only when someone reads it (10,000 waiters are common)."""

    phase: WaitPhase
    kind: Literal["concurrency key", "agent"]
    name: str
    used: int
    limit: int
    position: int

    @property
    def reason(self) -> str:
        what = f'{self.kind} "{self.name.split("/", 1)[-1]}" at {self.used}/{self.limit}'
        if self.phase == "QUEUED":
            return f"queued behind higher-priority runs ({what}), position {self.position}"
        if self.phase == "QUEUE_FULL":
            return f"queue full: {what} and {self.position - 1} runs already waiting"
        return f"{what}, position {self.position}"


@dataclass
class Capacity:
    key_limits: dict[str, int] = field(default_factory=dict)
    agent_limits: dict[str, int] = field(default_factory=dict)
    running_by_key: dict[str, int] = field(default_factory=dict)
    running_by_agent: dict[str, int] = field(default_factory=dict)
    # Bounds on waiting Runs (absent: unbounded).
    key_max_queued: dict[str, int] = field(default_factory=dict)
    agent_max_queued: dict[str, int] = field(default_factory=dict)


@dataclass
class Verdict:
    admit: list[tuple[str, str]] = field(default_factory=list)
    wait: dict[tuple[str, str], Wait] = field(default_factory=dict)


def admit(pending: list[Pending], cap: Capacity, presorted: bool = False) -> Verdict:
    """Decide for every pending Run. `presorted`: `pending` is already in queue order."""
    verdict = Verdict()
    admitted, waiting = verdict.admit, verdict.wait
    used_key = dict(cap.running_by_key)
    used_agent = dict(cap.running_by_agent)
    running_key, running_agent = cap.running_by_key, cap.running_by_agent
    key_limits, agent_limits = cap.key_limits, cap.agent_limits
    key_bound, agent_bound = cap.key_max_queued, cap.agent_max_queued
    queued_key: dict[str, int] = {}
    queued_agent: dict[str, int] = {}
    for p in pending if presorted else sorted(pending, key=Pending.order):
        ck, ag = p.concurrency_key, p.agent
        kind: Literal["concurrency key", "agent"] | None = None
        if ck is not None:
            limit = key_limits.get(ck, 1)
            used = used_key.get(ck, 0)
            if used >= limit:
                kind, name, running = "concurrency key", ck, running_key.get(ck, 0)
        if kind is None and ag is not None:
            limit = agent_limits.get(ag, 1)
            used = used_agent.get(ag, 0)
            if used >= limit:
                kind, name, running = "agent", ag, running_agent.get(ag, 0)
        if kind is None:
            admitted.append(p.key)
            if ck is not None:
                used_key[ck] = used_key.get(ck, 0) + 1
            if ag is not None:
                used_agent[ag] = used_agent.get(ag, 0) + 1
            continue
        qk = queued_key.get(ck, 0) if ck is not None else 0
        qa = queued_agent.get(ag, 0) if ag is not None else 0
        position = 1 + (qk if qk > qa else qa)
        bk = key_bound.get(ck) if ck is not None else None
        ba = agent_bound.get(ag) if ag is not None else None
        if (bk is not None and qk >= bk) or (ba is not None and qa >= ba):
            waiting[p.key] = Wait("QUEUE_FULL", kind, name, used, limit, position)
            continue
        if ck is not None:
            queued_key[ck] = qk + 1
        if ag is not None:
            queued_agent[ag] = qa + 1
        waiting[p.key] = Wait("BLOCKED" if running >= limit else "QUEUED", kind, name, used, limit, position)
    return verdict


def priority_from_001(p: int) -> int:
    """Seed 001's 1-9 scale (1 highest, 5 default) onto -1000..1000: (5 - p) * 250."""
    if not 1 <= p <= 9:
        raise ValueError("seed 001 priorities are 1 to 9")
    return (5 - p) * 250
