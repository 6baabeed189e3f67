"""Delays between attempts: exponential with jitter (default), linear, fixed.

With base b and cap c, the delay before attempt n+1 (after attempt n failed) is:
- fixed: b
- linear: b * n
- exponential_jitter: d = min(c, b * 2**(n-1)), then a value in [d/2, d] ("equal jitter"),
  drawn deterministically from (run uid, n) so a restart computes the same delay.
Every strategy is capped at c.
"""

from __future__ import annotations

import hashlib
from typing import Literal

Strategy = Literal["exponential_jitter", "linear", "fixed"]
DEFAULT_BASE_SECONDS = 10.0
DEFAULT_CAP_SECONDS = 600.0


def _unit(seed: str) -> float:
    return int(hashlib.sha256(seed.encode()).hexdigest()[:12], 16) / float(16**12)


def delay(
    strategy: Strategy,
    failed_attempt: int,
    base: float = DEFAULT_BASE_SECONDS,
    cap: float = DEFAULT_CAP_SECONDS,
    seed: str = "",
) -> float:
    """Seconds to wait after attempt `failed_attempt` (1-based) failed, before the next one."""
    if failed_attempt < 1:
        raise ValueError("attempts are numbered from 1")
    if strategy == "fixed":
        return min(base, cap)
    if strategy == "linear":
        return min(base * failed_attempt, cap)
    # 2**n overflows floats for absurd n; the cap is reached long before.
    full = min(cap, base * 2.0 ** min(failed_attempt - 1, 64))
    return full / 2 + _unit(f"{seed}/{failed_attempt}") * full / 2
