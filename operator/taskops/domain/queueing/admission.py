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

The verdict for one Run is `ADMITTED` or a `Wait`; the Run reconciler's pure
`decide` is the one place that turns it into the Run's status (RUNNING with
`admittedAt`, QUEUED/BLOCKED with a reason, or the end `queue_full`).
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Final

from taskops.domain.resources.phases import Phase, WaitPhase


class Limit(enum.Enum):
    """What a waiting Run waits on; the value is how a reason names it."""

    CONCURRENCY_KEY = "concurrency key"
    AGENT = "agent"


@dataclass(frozen=True, slots=True)
class Admitted:
    """The verdict for a Run that may start now (or was admitted and is held until its status says so)."""


ADMITTED: Final = Admitted()


@dataclass(frozen=True, slots=True)
class Pending:
    key: tuple[str, str]  # (namespace, run name)
    priority: int
    created: str  # RFC 3339 creation time: sorts chronologically as text
    concurrency_key: str | None = None  # namespaced by the caller: "ns/key"
    agent: str | None = None  # namespaced by the caller: "ns/agent"

    def order(self) -> tuple[int, str, str, str]:
        return (-self.priority, self.created, self.key[0], self.key[1])


@dataclass(frozen=True, slots=True)
class Wait:
    """The verdict for a Run that may not start: why it waits (or, QUEUE_FULL, why it ends).
    The message is built only when someone reads it (10,000 waiters are common)."""

    phase: WaitPhase
    kind: Limit
    name: str  # namespaced: "ns/name"
    used: int
    limit: int
    position: int

    @property
    def reason(self) -> str:
        what = f'{self.kind.value} "{self.name.split("/", 1)[-1]}" at {self.used}/{self.limit}'
        if self.phase == Phase.QUEUED:
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


# One Run's verdict.
Admission = Admitted | Wait

# A Wait's fields as a plain tuple, in field order: building 10,000 objects would cost more than the decision.
# Only this module reads them by position.
_WaitRow = tuple[WaitPhase, Limit, str, int, int, int]


@dataclass
class Verdict:
    """One admission pass's verdicts: the Runs admitted, in queue order, and why each other one waits."""

    admit: list[tuple[str, str]] = field(default_factory=list)
    waits: dict[tuple[str, str], _WaitRow] = field(default_factory=dict)

    def wait(self, key: tuple[str, str]) -> Wait | None:
        found = self.waits.get(key)
        return Wait(*found) if found is not None else None

    def changed_since(self, before: Verdict) -> Iterator[tuple[str, str]]:
        """Waiting Runs whose status must change: new waiters, and those whose phase or blocker changed.
        A position move alone is not a change (the status shows it only when written for another reason)."""
        for key, row in self.waits.items():
            old = before.waits.get(key)
            if old is None or old[:3] != row[:3]:
                yield key

    def depth(self) -> Counter[tuple[Limit, str]]:
        """How many Runs wait on each concurrency key and agent (namespaced names)."""
        return Counter((row[1], row[2]) for row in self.waits.values())


# Per key or agent during one pass: [in use, limit, running before the pass, waiting, queue bound (-1: none)].
_State = list[int]


def _state(
    table: dict[str, _State], name: str, limits: dict[str, int], running: dict[str, int], bounds: dict[str, int]
) -> _State:
    now_running = running.get(name, 0)
    state = [now_running, limits.get(name, 1), now_running, 0, bounds.get(name, -1)]
    table[name] = state
    return state


def admit(pending: list[Pending], cap: Capacity, presorted: bool = False) -> Verdict:
    """Decide for every pending Run. `presorted`: `pending` is already in queue order."""
    verdict = Verdict()
    admitted, waits = verdict.admit, verdict.waits
    keys: dict[str, _State] = {}
    agents: dict[str, _State] = {}
    for p in pending if presorted else sorted(pending, key=Pending.order):
        ck, ag = p.concurrency_key, p.agent
        ks = as_ = None
        blocking = None
        if ck is not None:
            ks = keys.get(ck) or _state(keys, ck, cap.key_limits, cap.running_by_key, cap.key_max_queued)
            if ks[0] >= ks[1]:
                blocking, kind, name = ks, Limit.CONCURRENCY_KEY, ck
        if ag is not None:
            as_ = agents.get(ag) or _state(agents, ag, cap.agent_limits, cap.running_by_agent, cap.agent_max_queued)
            if blocking is None and as_[0] >= as_[1]:
                blocking, kind, name = as_, Limit.AGENT, ag
        if blocking is None:
            admitted.append(p.key)
            if ks is not None:
                ks[0] += 1
            if as_ is not None:
                as_[0] += 1
            continue
        qk = ks[3] if ks is not None else 0
        qa = as_[3] if as_ is not None else 0
        position = 1 + (qk if qk > qa else qa)
        if (ks is not None and 0 <= ks[4] <= qk) or (as_ is not None and 0 <= as_[4] <= qa):
            waits[p.key] = ("QUEUE_FULL", kind, name, blocking[0], blocking[1], position)
            continue
        if ks is not None:
            ks[3] = qk + 1
        if as_ is not None:
            as_[3] = qa + 1
        phase: WaitPhase = Phase.BLOCKED if blocking[2] >= blocking[1] else Phase.QUEUED
        waits[p.key] = (phase, kind, name, blocking[0], blocking[1], position)
    return verdict
