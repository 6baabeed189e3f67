"""Admission kept one change at a time: limits never exceeded, priority then FIFO, no starvation, visible reasons,
queue bounds — and each decision admits exactly what one pass over every waiting Run would."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.admission import one_pass
from taskops.domain.queueing.admission import ADMITTED, Limit, Pending, Queues, RunKey, Wait
from taskops.domain.resources.priority import from_seed001

K, A = Limit.CONCURRENCY_KEY, Limit.AGENT


def pending(name: str, priority: int = 0, second: int = 0, key: str | None = None, agent: str | None = None) -> Pending:
    return Pending(("ns", name), priority, f"2026-01-01T00:00:{second:02d}Z", key, agent)


def run(name: str) -> RunKey:
    return ("ns", name)


# -- table: a state, one change, what the decision does ---------------------------------------------------------


@dataclass
class Case:
    id: str
    keys: dict[str, tuple[int, int]] = field(default_factory=dict)  # name -> (limit, queue bound or -1)
    agents: dict[str, tuple[int, int]] = field(default_factory=dict)
    holding: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)  # run -> (key, agent)
    waiting: list[Pending] = field(default_factory=list)  # waiting before the change (a first decision judged them)
    ends: list[str] = field(default_factory=list)  # the change: these Runs end ...
    arrive: list[Pending] = field(default_factory=list)  # ... these arrive ...
    new_keys: dict[str, tuple[int, int]] | None = None  # ... the keys' limits become these
    admitted: list[str] = field(default_factory=list)  # what the decision after the change admits, in order
    changed: set[str] = field(default_factory=set)  # waiting Runs whose verdict it changes
    verdicts: dict[str, Wait] = field(default_factory=dict)  # some verdicts after it


CASES = [
    Case(
        "one ends on a full key: its best waiter starts, nobody else is re-judged",
        keys={"ns/db": (2, -1)},
        holding={"h0": ("ns/db", None), "h1": ("ns/db", None)},
        waiting=[pending("w0", 0, 1, "ns/db"), pending("w1", 5, 2, "ns/db"), pending("w2", 0, 3, "ns/db")],
        ends=["h0"],
        admitted=["w1"],
        verdicts={
            "w0": Wait("BLOCKED", K, "ns/db", 2, 2, 1),
            "w2": Wait("BLOCKED", K, "ns/db", 2, 2, 2),
        },
    ),
    Case(
        "priority first, then FIFO; a newcomer that finds the room taken in its own decision is QUEUED",
        keys={"ns/k": (2, -1)},
        arrive=[
            pending("late-high", 5, 9, "ns/k"),
            pending("early-low", 0, 1, "ns/k"),
            pending("early-high", 5, 2, "ns/k"),
        ],
        admitted=["early-high", "late-high"],
        changed={"early-low"},
        verdicts={"early-low": Wait("QUEUED", K, "ns/k", 2, 2, 1)},
    ),
    Case(
        "a blocked Run does not starve a lower-priority one on another key",
        keys={"ns/busy": (1, -1), "ns/free": (1, -1)},
        holding={"h": ("ns/busy", None)},
        arrive=[pending("hi", 10, 0, "ns/busy"), pending("lo", -10, 0, "ns/free")],
        admitted=["lo"],
        changed={"hi"},
        verdicts={"hi": Wait("BLOCKED", K, "ns/busy", 1, 1, 1)},
    ),
    Case(
        "agent capacity; a Run without key or agent is never queued",
        agents={"ns/gpu": (3, -1)},
        arrive=[pending(f"r{i}", 0, i, agent="ns/gpu") for i in range(5)],
        admitted=["r0", "r1", "r2"],
        changed={"r3", "r4"},
        verdicts={"r3": Wait("QUEUED", A, "ns/gpu", 3, 3, 1), "r4": Wait("QUEUED", A, "ns/gpu", 3, 3, 2)},
    ),
    Case(
        "beyond the queue bound, lowest in queue order ends queue_full",
        keys={"ns/k": (1, 2)},
        arrive=[pending(f"r{i}", 0, i, "ns/k") for i in range(5)],
        admitted=["r0"],
        changed={"r1", "r2", "r3", "r4"},
        verdicts={
            "r2": Wait("QUEUED", K, "ns/k", 1, 1, 2),
            "r3": Wait("QUEUE_FULL", K, "ns/k", 1, 1, 3),
            "r4": Wait("QUEUE_FULL", K, "ns/k", 1, 1, 3),
        },
    ),
    Case(
        "a higher-priority newcomer pushes the last waiter past the bound",
        keys={"ns/k": (1, 2)},
        holding={"h": ("ns/k", None)},
        waiting=[pending("w0", 0, 1, "ns/k"), pending("w1", 0, 2, "ns/k")],
        arrive=[pending("vip", 9, 3, "ns/k")],
        changed={"vip", "w1"},
        verdicts={
            "vip": Wait("BLOCKED", K, "ns/k", 1, 1, 1),
            "w0": Wait("BLOCKED", K, "ns/k", 1, 1, 2),
            "w1": Wait("QUEUE_FULL", K, "ns/k", 1, 1, 3),
        },
    ),
    Case(
        "key and agent: the key is named while it is full; when it frees up and the agent is full, the agent is",
        keys={"ns/k": (1, -1)},
        agents={"ns/gpu": (1, -1)},
        holding={"hk": ("ns/k", None), "ha": (None, "ns/gpu")},
        waiting=[pending("w", 0, 1, "ns/k", "ns/gpu")],
        ends=["hk"],
        changed={"w"},
        verdicts={"w": Wait("BLOCKED", A, "ns/gpu", 1, 1, 1)},
    ),
    Case(
        "a Run needs room on its key and its agent; the agent's end lets the best Run that fits both start",
        keys={"ns/a": (1, -1), "ns/b": (1, -1)},
        agents={"ns/gpu": (1, -1)},
        holding={"ha": ("ns/a", None), "hg": (None, "ns/gpu")},
        waiting=[pending("on-a", 9, 1, "ns/a", "ns/gpu"), pending("on-b", 0, 2, "ns/b", "ns/gpu")],
        ends=["hg"],
        admitted=["on-b"],
        verdicts={"on-a": Wait("BLOCKED", K, "ns/a", 1, 1, 1)},
    ),
    Case(
        "a raised limit admits as many as now fit, in order",
        keys={"ns/k": (1, -1)},
        holding={"h": ("ns/k", None)},
        waiting=[pending(f"w{i}", 0, i, "ns/k") for i in range(4)],
        new_keys={"ns/k": (3, -1)},
        admitted=["w0", "w1"],
        verdicts={"w2": Wait("BLOCKED", K, "ns/k", 3, 3, 1)},
    ),
    Case(
        "a lowered limit admits nothing and re-judges nobody (the key stays full)",
        keys={"ns/k": (3, -1)},
        holding={f"h{i}": ("ns/k", None) for i in range(3)},
        waiting=[pending("w", 0, 0, "ns/k")],
        new_keys={"ns/k": (1, -1)},
        verdicts={"w": Wait("BLOCKED", K, "ns/k", 3, 1, 1)},
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_one_change_one_decision(case: Case) -> None:
    q = Queues()
    q.set_limits(K, case.keys)
    q.set_limits(A, case.agents)
    for name, (key, agent) in case.holding.items():
        q.hold(run(name), key, agent)
    for p in case.waiting:
        q.wait(p)
    before = q.decide()
    assert before.admitted == [], "the state before the change is settled"
    for name in case.ends:
        q.release(run(name))
    for p in case.arrive:
        q.wait(p)
    if case.new_keys is not None:
        q.set_limits(K, case.new_keys)
    out = q.decide()
    assert out.admitted == [run(n) for n in case.admitted]
    assert set(out.changed) == {run(n) for n in case.changed}
    for name in case.admitted:
        assert q.verdict(run(name)) is ADMITTED
    for name, wait in case.verdicts.items():
        assert q.verdict(run(name)) == wait, name


def test_reasons_read_as_the_status_shows_them() -> None:
    assert Wait("BLOCKED", K, "ns/db", 1, 1, 2).reason == 'concurrency key "db" at 1/1, position 2'
    assert (
        Wait("QUEUED", A, "ns/gpu", 2, 2, 1).reason
        == 'queued behind higher-priority runs (agent "gpu" at 2/2), position 1'
    )
    assert (
        Wait("QUEUE_FULL", K, "ns/k", 1, 1, 3).reason
        == 'queue full: concurrency key "k" at 1/1 and 2 runs already waiting'
    )


def test_an_admitted_run_holds_its_slot_until_it_ends() -> None:
    q = Queues()
    q.set_limits(K, {"ns/k": (1, -1)})
    q.wait(pending("a", 0, 0, "ns/k"))
    assert q.decide().admitted == [run("a")]
    # Its status write is not seen yet: a report that it still waits does not queue it again.
    q.wait(pending("a", 0, 0, "ns/k"))
    q.wait(pending("b", 0, 1, "ns/k"))
    out = q.decide()
    assert out.admitted == [] and q.verdict(run("a")) is ADMITTED
    q.hold(run("a"), "ns/k", None)  # admittedAt seen: nothing changes
    assert q.decide().admitted == []
    q.release(run("a"))
    assert q.decide().admitted == [run("b")]


def test_a_run_with_neither_key_nor_agent_is_admitted_and_stalls_no_decision() -> None:
    """`make fuzz` found (issue 20): a Run offered with neither (a Task's concurrencyKey "") waited on no gate, and
    every later decision failed an assertion: no keyed Run in the cluster was admitted any more."""
    q = Queues()
    q.set_limits(K, {"ns/k": (1, -1)})
    q.wait(pending("free", 0, 0))
    q.wait(pending("keyed", 0, 1, "ns/k"))
    assert q.decide().admitted == [run("free"), run("keyed")]
    assert q.verdict(run("free")) is ADMITTED and q.waiting() == 0
    q.wait(pending("free", 0, 0))  # reported again before its admittedAt is seen: nothing changes
    assert q.decide().admitted == []
    q.release(run("free"))
    assert q.verdict(run("free")) is None


def test_a_run_waiting_for_its_scheduled_time_leaves_the_queue() -> None:
    q = Queues()
    q.set_limits(K, {"ns/k": (1, -1)})
    q.hold(run("h"), "ns/k", None)
    q.wait(pending("w", 0, 0, "ns/k"))
    q.decide()
    q.unqueue(run("w"))
    assert q.verdict(run("w")) is None and q.waiting() == 0
    assert q.depth(K, "ns/k") == 0


def test_seed_001_priority_scale() -> None:
    assert [from_seed001(p) for p in (1, 5, 9)] == [1000, 0, -1000]
    with pytest.raises(ValueError):
        from_seed001(0)


# -- property: any sequence of changes ---------------------------------------------------------------------------

KEYS = ["ns/a", "ns/b", "ns/c"]
AGENTS = ["ns/x", "ns/y"]
ops = st.lists(
    st.one_of(
        st.tuples(
            st.just("wait"),
            st.integers(-3, 3),
            st.integers(0, 50),
            st.sampled_from([None, *KEYS]),
            st.sampled_from([None, *AGENTS]),
        ),
        st.tuples(st.just("release"), st.integers(0, 10_000)),
        st.tuples(st.just("hold"), st.integers(0, 10_000)),
        st.tuples(st.just("limits"), st.integers(1, 4), st.integers(1, 4), st.integers(-1, 4)),
        st.tuples(st.just("decide")),
    ),
    max_size=80,
)


@settings(max_examples=300, deadline=None)
@given(ops)
def test_each_decision_admits_what_one_pass_would_and_never_past_a_limit(script: list[tuple[object, ...]]) -> None:
    q = Queues()
    limit: dict[tuple[Limit, str], int] = {}
    bound: dict[tuple[Limit, str], int] = {}
    waiting: dict[RunKey, Pending] = {}
    holding: dict[RunKey, tuple[str | None, str | None]] = {}
    ended: set[RunKey] = set()
    for i, op in enumerate([*script, ("decide",)]):
        match op:
            case ("wait", int(prio), int(second), key, agent):
                if key is None and agent is None:
                    continue
                p = Pending(("ns", f"r{i:03d}"), prio, f"2026-01-01T00:00:{second:02d}Z", key, agent)  # type: ignore[arg-type]
                waiting[p.key] = p
                q.wait(p)
            case ("release", int(n)):
                everyone = sorted(waiting.keys() | holding.keys())
                if everyone:
                    key_ = everyone[n % len(everyone)]
                    waiting.pop(key_, None)
                    holding.pop(key_, None)
                    ended.add(key_)
                    q.release(key_)
            case ("hold", int(n)):
                # Seen admitted (another leader admitted it, or a restart lists it): it may take a gate past its limit.
                if waiting:
                    key_ = sorted(waiting)[n % len(waiting)]
                    p = waiting.pop(key_)
                    holding[key_] = (p.concurrency_key, p.agent)
                    q.hold(key_, p.concurrency_key, p.agent)
            case ("limits", int(kl), int(al), int(b)):
                limit = {**{(K, k): kl for k in KEYS}, **{(A, a): al for a in AGENTS}}
                bound = {(K, k): b for k in KEYS[:1]}
                q.set_limits(K, {k: (kl, bound.get((K, k), -1)) for k in KEYS})
                q.set_limits(A, {a: (al, -1) for a in AGENTS})
            case ("decide",):
                used = Counter(g for k, a in holding.values() for g in ((K, k), (A, a)) if g[1] is not None)
                expected = one_pass(list(waiting.values()), used, limit)
                out = q.decide()
                assert out.admitted == expected
                for key_ in out.admitted:
                    p = waiting.pop(key_)
                    holding[key_] = (p.concurrency_key, p.agent)
                after = Counter(g for k, a in holding.values() for g in ((K, k), (A, a)) if g[1] is not None)
                for g, n in after.items():
                    assert n <= max(limit.get(g, 1), used[g]), f"{g} past its limit"
                _check_verdicts(q, waiting, after, limit, bound)


def _check_verdicts(
    q: Queues,
    waiting: dict[RunKey, Pending],
    used: Counter[tuple[Limit, str]],
    limit: dict[tuple[Limit, str], int],
    bound: dict[tuple[Limit, str], int],
) -> None:
    """Every waiting Run waits on a full key or agent and names it (its key first); queue_full only past a bound."""
    for key_, p in list(waiting.items()):
        verdict = q.verdict(key_)
        assert isinstance(verdict, Wait), (key_, verdict)
        if verdict.phase == "QUEUE_FULL":
            assert any(bound.get(g, -1) >= 0 for g in ((K, p.concurrency_key), (A, p.agent)))
            del waiting[key_]  # it ends
            continue
        key_full = p.concurrency_key is not None and used[(K, p.concurrency_key)] >= limit.get(
            (K, p.concurrency_key), 1
        )
        agent_full = p.agent is not None and used[(A, p.agent)] >= limit.get((A, p.agent), 1)
        assert key_full or agent_full, f"{key_} waits although it could start"
        named = (K, p.concurrency_key) if key_full else (A, p.agent)
        assert (verdict.kind, verdict.name) == named
        assert (verdict.used, verdict.limit) == (used[named], limit.get(named, 1))  # type: ignore[arg-type]
