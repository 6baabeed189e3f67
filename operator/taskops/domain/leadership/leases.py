"""Leader election over a coordination.k8s.io Lease, the pure part (client-go's rules).

A Lease held by someone else counts as expired only when its record has not
changed for `leaseDurationSeconds` as measured by *our* clock since *we* last
saw it change: clocks of different machines are never compared.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from taskops.domain.resources import timefmt


@dataclass(frozen=True)
class Observed:
    """The Lease record as we last saw it, and when (our monotonic clock) it last changed."""

    holder: str
    renew_time: str
    transitions: int
    seen_at: float


def record(lease: dict[str, Any]) -> tuple[str, str, int]:
    spec = lease.get("spec") or {}
    return spec.get("holderIdentity") or "", spec.get("renewTime") or "", int(spec.get("leaseTransitions") or 0)


def observe(previous: Observed | None, lease: dict[str, Any], now: float) -> Observed:
    holder, renew, transitions = record(lease)
    if previous is not None and (previous.holder, previous.renew_time) == (holder, renew):
        return previous
    return Observed(holder, renew, transitions, now)


def may_acquire(observed: Observed, me: str, duration: float, now: float) -> bool:
    """Free (no holder), ours, or not renewed for a whole lease duration by our clock."""
    return not observed.holder or observed.holder == me or now - observed.seen_at >= duration


def spec_for(me: str, duration: int, now: dt.datetime, observed: Observed | None) -> dict[str, Any]:
    """The Lease spec that makes `me` the holder (a new term if someone else held it)."""
    stamp = timefmt.stamp_micro(now)
    spec: dict[str, Any] = {"holderIdentity": me, "leaseDurationSeconds": duration, "renewTime": stamp}
    if observed is None or observed.holder != me:
        spec["acquireTime"] = stamp
        spec["leaseTransitions"] = (observed.transitions + 1) if observed and observed.holder else 0
    return spec
