"""Leader-election rules, pure (domain/leadership/leases.py): when a Lease may be taken, and a takeover's term."""

from __future__ import annotations

import datetime as dt

from taskops.domain.leadership import leases


def lease(holder: str, renew: str, transitions: int = 0) -> dict[str, object]:
    return {"spec": {"holderIdentity": holder, "renewTime": renew, "leaseTransitions": transitions}}


def test_a_lease_expires_by_our_clock_since_we_saw_it_change() -> None:
    seen = leases.observe(None, lease("a", "t1"), now=100.0)
    assert not leases.may_acquire(seen, "b", duration=15, now=114.0)
    assert leases.may_acquire(seen, "b", duration=15, now=115.0)
    # A renewal resets the clock: the holder is alive.
    renewed = leases.observe(seen, lease("a", "t2"), now=114.0)
    assert not leases.may_acquire(renewed, "b", duration=15, now=120.0)
    # Unchanged record: the first sighting's time stays.
    assert leases.observe(seen, lease("a", "t1"), now=110.0).seen_at == 100.0


def test_free_or_own_leases_are_taken_at_once_and_a_takeover_is_a_new_term() -> None:
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    assert leases.may_acquire(leases.observe(None, lease("", ""), 0.0), "b", 15, 0.0)
    assert leases.may_acquire(leases.observe(None, lease("b", "t"), 0.0), "b", 15, 0.0)
    takeover = leases.spec_for("b", 15, now, leases.observe(None, lease("a", "t", 3), 0.0))
    assert takeover["leaseTransitions"] == 4 and takeover["acquireTime"] == takeover["renewTime"]
    renewal = leases.spec_for("b", 15, now, leases.observe(None, lease("b", "t", 4), 0.0))
    assert "acquireTime" not in renewal and "leaseTransitions" not in renewal
