"""Admission: which waiting Runs start now, and why the others wait. Pure, and kept one change at a time.

Kueue's shape: the state is a set of queues kept in order — one per concurrency
key and per agent (a *gate*), and one per (key, agent) pair (a *cell*: Runs
that wait on exactly those two gates) — updated as the informers report
changes (`wait`, `hold`, `release`, `unqueue`, `set_limits`). A decision
(`decide`) then does only what the changes since the last one call for:

- **admit**: only a gate whose room may have grown (a Run ended, a limit was
  raised, a Run arrived) can let a Run start, and only one of that gate's
  cells. The heads of those cells go into a heap; the best head whose key and
  agent both have room is admitted, its cell's next head goes in, until no
  candidate fits. That is the order of one pass over every waiting Run
  (higher priority first, then FIFO by creation time, then name), because
  before the change no waiting Run fitted and admitting only takes room;
- **judge**: a Run that waits names what it waits on — its concurrency key when
  the key is at its limit, else its agent — as `BLOCKED` when that limit was
  already full when the decision began (Runs running or admitted earlier hold
  it), or `QUEUED` when it had room that Runs ahead in this same decision took.
  The verdict of a waiting Run changes only when what it waits on changes (its
  key fills or frees up), so one Run ending re-judges nobody on a key that
  stays full;
- **bound**: Runs beyond a key's or agent's `maxQueued`, in queue order (lowest
  priority, then newest), end `queue_full`.

A blocked Run never holds back a lower-priority Run on another key or agent.
A Run's position is computed when its verdict is read (bisection in its
gates' queues), never kept up to date for every waiter.

An admitted Run holds its slots at once (Kueue's "assumed" workloads): a later
report that it still waits (its `admittedAt` write not seen yet) does not put
it back in a queue; only its end (`release`) frees them.

The verdict for one Run is `ADMITTED` or a `Wait`; the Run reconciler's pure
`decide` is the one place that turns it into the Run's status (RUNNING with
`admittedAt`, QUEUED/BLOCKED with a reason, or the end `queue_full`).
"""

from __future__ import annotations

import enum
import heapq
from bisect import bisect_left, insort
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

from taskops.domain.resources.phases import Phase, WaitPhase

# A Run: (namespace, name).
RunKey = tuple[str, str]
# Queue order: higher priority first, then creation time (RFC 3339 sorts as text), then namespace and name.
Order = tuple[int, str, str, str]


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
    key: RunKey
    priority: int
    created: str  # RFC 3339 creation time: sorts chronologically as text
    concurrency_key: str | None = None  # namespaced by the caller: "ns/key"
    agent: str | None = None  # namespaced by the caller: "ns/agent"

    def order(self) -> Order:
        return (-self.priority, self.created, self.key[0], self.key[1])


@dataclass(frozen=True, slots=True)
class Wait:
    """The verdict for a Run that may not start: why it waits (or, QUEUE_FULL, why it ends).
    The message is built only when someone reads it."""

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


# One Run's verdict.
Admission = Admitted | Wait
# Runs that wait on exactly one key and one agent (either may be None, not both).
Cell = tuple[str | None, str | None]


class _Gate:
    """One concurrency key or agent: its limit, how many Runs hold it, the Runs waiting on it in queue order."""

    __slots__ = ("blocked", "bound", "cells", "full_before", "kind", "limit", "name", "queue", "used")

    def __init__(self, kind: Limit, name: str, limit: int, bound: int) -> None:
        self.kind, self.name = kind, name
        self.limit, self.bound = limit, bound  # bound -1: no queue bound
        self.used = 0
        self.queue: list[Order] = []  # every waiting Run on this gate, in order
        self.cells: set[Cell] = set()  # the cells of those Runs
        self.blocked: set[RunKey] = set()  # waiting Runs whose verdict names this gate
        self.full_before = False  # full at the end of the last decision (what the standing verdicts saw)

    @property
    def full(self) -> bool:
        return self.used >= self.limit


@dataclass(slots=True)
class _Waiting:
    pending: Pending
    order: Order
    cell: Cell
    key_gate: _Gate | None
    agent_gate: _Gate | None
    phase: WaitPhase | None = None  # None: not judged yet
    blocker: _Gate | None = None


@dataclass
class Outcome:
    """What one decision did: the Runs admitted (in queue order), the waiting Runs whose verdict changed (new
    ones included), and the keys and agents whose number of waiting Runs may have changed."""

    admitted: list[RunKey] = field(default_factory=list)
    changed: list[RunKey] = field(default_factory=list)
    gates: list[tuple[Limit, str]] = field(default_factory=list)


class Queues:
    """The admission state: gates, cells, who holds and who waits. Every method is O(log n) in the Runs of the
    gates it touches, except `decide`, which is proportional to what changed since the last one."""

    def __init__(self) -> None:
        self._declared: dict[Limit, dict[str, tuple[int, int]]] = {Limit.CONCURRENCY_KEY: {}, Limit.AGENT: {}}
        self._gates: dict[tuple[Limit, str], _Gate] = {}
        self._cells: dict[Cell, list[Order]] = {}
        self._waiting: dict[RunKey, _Waiting] = {}
        self._holding: dict[RunKey, Cell] = {}
        self._full: dict[RunKey, Wait] = {}  # judged queue_full: they end, and are never admitted
        self._dirty: set[_Gate] = set()  # gates whose room may have grown, or that have new waiters
        self._new: set[RunKey] = set()  # waiting Runs not judged yet
        self._unlimited: list[RunKey] = []  # offered with neither key nor agent: admitted by the next decision

    # -- what the informers report -------------------------------------------------------------------------

    def set_limits(self, kind: Limit, limits: dict[str, tuple[int, int]]) -> None:
        """Every declared limit of one kind: name -> (limit, queue bound, -1 for none). An undeclared key or
        agent has limit 1 and no bound."""
        old, self._declared[kind] = self._declared[kind], limits
        for name in old.keys() | limits.keys():
            gate = self._gates.get((kind, name))
            if gate is not None and old.get(name) != limits.get(name):
                gate.limit, gate.bound = limits.get(name, (1, -1))
                self._dirty.add(gate)

    def wait(self, p: Pending) -> None:
        """The Run waits for admission (it is validated and not admitted)."""
        key = p.key
        if key in self._holding or key in self._full:
            return  # admitted (its admittedAt not seen yet) or ending queue_full: that verdict stands
        if p.concurrency_key is None and p.agent is None:
            # Nothing limits it, so it is admitted. Callers do not send such a Run (an empty key is none), but one
            # in the queues would wait on no gate and fail every later decision, everybody's admission with it.
            self.unqueue(key)
            self._take(key, (None, None))
            self._unlimited.append(key)
            return
        old = self._waiting.get(key)
        if old is not None:
            if old.pending == p:
                return
            self._unqueue(old)
        cell = (p.concurrency_key, p.agent)
        kg = self._gate(Limit.CONCURRENCY_KEY, p.concurrency_key)
        ag = self._gate(Limit.AGENT, p.agent)
        w = _Waiting(p, p.order(), cell, kg, ag)
        self._waiting[key] = w
        insort(self._cells.setdefault(cell, []), w.order)
        for gate in (kg, ag):
            if gate is not None:
                insort(gate.queue, w.order)
                gate.cells.add(cell)
                self._dirty.add(gate)
        self._new.add(key)

    def hold(self, key: RunKey, concurrency_key: str | None, agent: str | None) -> None:
        """The Run holds a slot of its key and agent (admitted, until it ends)."""
        cell = (concurrency_key, agent)
        if self._holding.get(key) == cell:
            return
        self.release(key)
        self._take(key, cell)
        self._dirty.update(self._gates_of(cell))  # a key that fills up changes what its waiters wait on

    def release(self, key: RunKey) -> None:
        """The Run ended or is gone: its slots are free, and it waits no more."""
        self.unqueue(key)
        cell = self._holding.pop(key, None)
        if cell is not None:
            for gate in self._gates_of(cell):
                gate.used -= 1
                self._dirty.add(gate)

    def unqueue(self, key: RunKey) -> None:
        """The Run does not wait (not validated yet, or waiting for its scheduledAt); what it holds it keeps."""
        self._full.pop(key, None)
        w = self._waiting.get(key)
        if w is not None:
            self._unqueue(w)
            self._dirty.update(g for g in (w.key_gate, w.agent_gate) if g is not None)

    # -- reading ----------------------------------------------------------------------------------------------

    def verdict(self, key: RunKey) -> Admission | None:
        """ADMITTED, why the Run waits, or None: no decision has judged it (or it is not in any queue)."""
        if key in self._holding:
            return ADMITTED
        full = self._full.get(key)
        if full is not None:
            return full
        w = self._waiting.get(key)
        if w is None or w.phase is None or w.blocker is None:
            return None
        g = w.blocker
        return Wait(w.phase, g.kind, g.name, g.used, g.limit, self._position(w))

    def knows(self, key: RunKey) -> bool:
        """Whether the Run holds a slot, waits, or ends queue_full here."""
        return key in self._holding or key in self._waiting or key in self._full

    def depth(self, kind: Limit, name: str) -> int:
        """How many Runs wait on this key or agent (their verdict names it)."""
        gate = self._gates.get((kind, name))
        return len(gate.blocked) if gate is not None else 0

    def waiting(self) -> int:
        return len(self._waiting)

    # -- deciding ---------------------------------------------------------------------------------------------

    def decide(self) -> Outcome:
        out = Outcome()
        out.admitted, self._unlimited = self._unlimited, []
        dirty, self._dirty = self._dirty, set()
        new, self._new = self._new, set()
        start_full = {gate: gate.full for gate in dirty}
        touched = set(dirty)
        self._admit(dirty, start_full, touched, out)
        # Standing verdicts name a key when it is full, else the agent: only a key that filled or freed up since
        # they were given changes any of them.
        rejudge: set[RunKey] = {key for key in new if key in self._waiting}
        for gate in list(touched):
            if gate.kind is not Limit.CONCURRENCY_KEY or gate.full == gate.full_before:
                continue
            if gate.full:
                rejudge.update((o[2], o[3]) for o in gate.queue)
            else:
                rejudge.update(gate.blocked)
        for key in sorted(rejudge, key=lambda k: self._waiting[k].order):
            if self._judge(self._waiting[key], start_full, touched):
                out.changed.append(key)
        self._bound(dirty, out)
        for gate in touched:
            gate.full_before = gate.full
        out.changed = list(dict.fromkeys(out.changed))
        out.gates = [(g.kind, g.name) for g in touched]
        self._collect(touched)
        return out

    def _admit(self, dirty: set[_Gate], start_full: dict[_Gate, bool], touched: set[_Gate], out: Outcome) -> None:
        """Admit, best first, the heads of the cells of every gate with room whose key and agent both have room."""
        heads: list[tuple[Order, Cell]] = []
        for cell in {cell for gate in dirty if not gate.full for cell in gate.cells}:
            queue = self._cells.get(cell)
            if queue and self._fits(cell):
                heads.append((queue[0], cell))
        heapq.heapify(heads)
        while heads:
            order, cell = heapq.heappop(heads)
            queue = self._cells.get(cell)
            if not queue or queue[0] != order or not self._fits(cell):
                continue  # filled up since it was pushed: nothing in this cell fits any more
            key = (order[2], order[3])
            self._unqueue(self._waiting[key])
            for gate in self._gates_of(cell):
                start_full.setdefault(gate, gate.full)
                touched.add(gate)
            self._take(key, cell)
            out.admitted.append(key)
            queue = self._cells.get(cell)
            if queue:
                heapq.heappush(heads, (queue[0], cell))

    def _judge(self, w: _Waiting, start_full: dict[_Gate, bool], touched: set[_Gate]) -> bool:
        """Name what the Run waits on; True when its verdict (phase or what it waits on) changed."""
        kg, ag = w.key_gate, w.agent_gate
        blocker = kg if kg is not None and (kg.full or ag is None) else ag
        assert blocker is not None  # a waiting Run has a key or an agent
        if blocker is w.blocker and w.phase is not None:
            return False
        if w.blocker is not None:
            w.blocker.blocked.discard(w.pending.key)
            touched.add(w.blocker)
        w.phase = Phase.BLOCKED if start_full.get(blocker, blocker.full) else Phase.QUEUED
        w.blocker = blocker
        blocker.blocked.add(w.pending.key)
        touched.add(blocker)
        return True

    def _bound(self, dirty: set[_Gate], out: Outcome) -> None:
        """Runs beyond a queue bound, lowest in queue order first, end queue_full (for good)."""
        for gate in dirty:
            while 0 <= gate.bound < len(gate.queue):
                order = gate.queue[gate.bound]  # the first past the bound: each reads `bound` Runs ahead
                key = (order[2], order[3])
                w = self._waiting[key]
                blocker = w.blocker or gate
                position = self._position(w)
                self._full[key] = Wait("QUEUE_FULL", blocker.kind, blocker.name, blocker.used, blocker.limit, position)
                self._unqueue(w)
                out.changed.append(key)

    # -- bookkeeping ------------------------------------------------------------------------------------------

    def _gate(self, kind: Limit, name: str | None) -> _Gate | None:
        if name is None:
            return None
        gate = self._gates.get((kind, name))
        if gate is None:
            limit, bound = self._declared[kind].get(name, (1, -1))
            gate = self._gates[(kind, name)] = _Gate(kind, name, limit, bound)
        return gate

    def _gates_of(self, cell: Cell) -> Iterable[_Gate]:
        for kind, name in ((Limit.CONCURRENCY_KEY, cell[0]), (Limit.AGENT, cell[1])):
            gate = self._gate(kind, name)
            if gate is not None:
                yield gate

    def _fits(self, cell: Cell) -> bool:
        return not any(gate.full for gate in self._gates_of(cell))

    def _take(self, key: RunKey, cell: Cell) -> None:
        self._holding[key] = cell
        for gate in self._gates_of(cell):
            gate.used += 1

    def _unqueue(self, w: _Waiting) -> None:
        key = w.pending.key
        del self._waiting[key]
        self._new.discard(key)
        cell = self._cells[w.cell]
        del cell[bisect_left(cell, w.order)]
        if not cell:
            del self._cells[w.cell]
        for gate in (w.key_gate, w.agent_gate):
            if gate is not None:
                del gate.queue[bisect_left(gate.queue, w.order)]
                if not cell:
                    gate.cells.discard(w.cell)
        if w.blocker is not None:
            w.blocker.blocked.discard(key)

    def _position(self, w: _Waiting) -> int:
        ahead = [bisect_left(g.queue, w.order) for g in (w.key_gate, w.agent_gate) if g is not None]
        return 1 + max(ahead)

    def _collect(self, gates: Iterable[_Gate]) -> None:
        """Forget gates nobody holds or waits on (their declared limits stay in `_declared`)."""
        for gate in gates:
            if gate.used == 0 and not gate.queue:
                self._gates.pop((gate.kind, gate.name), None)
