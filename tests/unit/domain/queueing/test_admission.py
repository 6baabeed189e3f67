"""Admission: limits never exceeded, priority then FIFO, no starvation, visible reasons, queue bounds."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from taskops.domain.queueing.admission import Capacity, Limit, Pending, Verdict, Wait, admit
from taskops.domain.resources.priority import from_seed001


def pending(
    name: str,
    priority: int = 0,
    created: str = "2026-01-01T00:00:00Z",
    key: str | None = None,
    agent: str | None = None,
) -> Pending:
    return Pending(("ns", name), priority, created, key, agent)


runs = st.lists(
    st.tuples(
        st.integers(-3, 3),
        st.integers(0, 50),
        st.sampled_from([None, "ns/a", "ns/b", "ns/c"]),
        st.sampled_from([None, "ns/x", "ns/y"]),
    ),
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(runs, st.integers(1, 4), st.integers(1, 5), st.integers(0, 3))
def test_limits_are_never_exceeded_and_order_holds(
    spec: list[tuple[int, int, str | None, str | None]], key_limit: int, agent_limit: int, running: int
) -> None:
    items = [pending(f"r{i:03d}", pr, f"2026-01-01T00:00:{c:02d}Z", k, a) for i, (pr, c, k, a) in enumerate(spec)]
    cap = Capacity(
        key_limits={k: key_limit for k in ("ns/a", "ns/b", "ns/c")},
        agent_limits={a: agent_limit for a in ("ns/x", "ns/y")},
        running_by_key={"ns/a": running},
        running_by_agent={"ns/x": running},
    )
    verdict = admit(items, cap)
    by_key = {p.key: p for p in items}
    admitted = [by_key[k] for k in verdict.admit]
    keys = Counter(p.concurrency_key for p in admitted if p.concurrency_key)
    agents = Counter(p.agent for p in admitted if p.agent)
    for k, n in keys.items():
        assert n + cap.running_by_key.get(k, 0) <= max(key_limit, cap.running_by_key.get(k, 0))
    for a, n in agents.items():
        assert n + cap.running_by_agent.get(a, 0) <= max(agent_limit, cap.running_by_agent.get(a, 0))
    assert set(verdict.admit) | set(verdict.waits) == set(by_key)
    # Admission order is queue order; and nothing waits that could have started.
    assert verdict.admit == [p.key for p in sorted(admitted, key=Pending.order)]
    for key in verdict.waits:
        p = by_key[key]
        key_full = (
            p.concurrency_key is not None
            and keys[p.concurrency_key] + cap.running_by_key.get(p.concurrency_key, 0) >= key_limit
        )
        agent_full = p.agent is not None and agents[p.agent] + cap.running_by_agent.get(p.agent, 0) >= agent_limit
        assert key_full or agent_full, f"{key} waits although it could start"


def test_priority_then_fifo() -> None:
    items = [
        pending("late-high", 5, "2026-01-01T00:00:09Z", "ns/k"),
        pending("early-low", 0, "2026-01-01T00:00:01Z", "ns/k"),
        pending("early-high", 5, "2026-01-01T00:00:02Z", "ns/k"),
    ]
    verdict = admit(items, Capacity(key_limits={"ns/k": 2}))
    assert verdict.admit == [("ns", "early-high"), ("ns", "late-high")]
    wait = verdict.wait(("ns", "early-low"))
    assert wait.phase == "QUEUED" and wait.position == 1
    assert 'concurrency key "k" at 2/2' in wait.reason


def test_blocked_run_does_not_starve_others() -> None:
    items = [pending("hi", 10, key="ns/busy"), pending("lo", -10, key="ns/free")]
    verdict = admit(items, Capacity(key_limits={"ns/busy": 1, "ns/free": 1}, running_by_key={"ns/busy": 1}))
    assert verdict.admit == [("ns", "lo")]
    wait = verdict.wait(("ns", "hi"))
    assert wait.phase == "BLOCKED" and wait.reason == 'concurrency key "busy" at 1/1, position 1'


def test_agent_capacity_and_unkeyed_runs() -> None:
    items = [pending(f"r{i}", created=f"2026-01-01T00:00:0{i}Z", agent="ns/gpu") for i in range(5)]
    items.append(pending("free"))
    verdict = admit(items, Capacity(agent_limits={"ns/gpu": 3}))
    assert verdict.admit == [("ns", "free"), ("ns", "r0"), ("ns", "r1"), ("ns", "r2")]
    assert [verdict.wait(("ns", f"r{i}")).position for i in (3, 4)] == [1, 2]
    assert 'agent "gpu" at 3/3' in verdict.wait(("ns", "r3")).reason


def test_queue_full_beyond_the_bound() -> None:
    items = [pending(f"r{i}", created=f"2026-01-01T00:00:0{i}Z", key="ns/k") for i in range(5)]
    verdict = admit(items, Capacity(key_limits={"ns/k": 1}, key_max_queued={"ns/k": 2}))
    assert verdict.admit == [("ns", "r0")]
    assert [verdict.wait(("ns", f"r{i}")).phase for i in (1, 2, 3, 4)] == [
        "QUEUED",
        "QUEUED",
        "QUEUE_FULL",
        "QUEUE_FULL",
    ]


def test_seed_001_priority_scale() -> None:
    assert [from_seed001(p) for p in (1, 5, 9)] == [1000, 0, -1000]
    with pytest.raises(ValueError):
        from_seed001(0)


def test_verdict_names_what_each_run_waits_on_and_what_changed() -> None:
    items = [pending(f"k{i}", created=f"2026-01-01T00:00:0{i}Z", key="ns/k") for i in range(3)]
    items += [pending(f"g{i}", created=f"2026-01-01T00:00:0{i}Z", agent="ns/gpu") for i in range(2)]
    cap = Capacity(key_limits={"ns/k": 1}, agent_limits={"ns/gpu": 1}, running_by_key={"ns/k": 1})
    verdict = admit(items, cap)
    assert verdict.admit == [("ns", "g0")]
    assert verdict.wait(("ns", "k0")) == Wait("BLOCKED", Limit.CONCURRENCY_KEY, "ns/k", 1, 1, 1)
    assert verdict.wait(("ns", "g1")) == Wait("QUEUED", Limit.AGENT, "ns/gpu", 1, 1, 1)
    assert verdict.depth() == {(Limit.CONCURRENCY_KEY, "ns/k"): 3, (Limit.AGENT, "ns/gpu"): 1}
    assert set(verdict.changed_since(Verdict())) == set(verdict.waits)
    # The key's running Run ended: k0 is admitted; k1 and k2 now wait behind it (QUEUED, not BLOCKED); g1's
    # verdict is the same, so its Run is not reconciled again.
    after = admit(items, Capacity(key_limits={"ns/k": 1}, agent_limits={"ns/gpu": 1}))
    assert after.admit == [("ns", "g0"), ("ns", "k0")]
    assert list(after.changed_since(verdict)) == [("ns", "k1"), ("ns", "k2")]
