"""Seed 001's priority scale and taskops' native one, both ways.

A Run's native priority is an integer from -1000 to 1000, higher first. Seed
001 speaks 1 to 9, 1 highest and 5 the default: p maps to (5 - p) * 250, so
1 → 1000, 5 → 0, 9 → -1000.
"""

from __future__ import annotations


def from_seed001(p: int) -> int:
    """The native priority of seed 001's `p` (1 to 9)."""
    if not 1 <= p <= 9:
        raise ValueError("seed 001 priorities are 1 to 9")
    return (5 - p) * 250


def to_seed001(native: int) -> int:
    """The nearest seed 001 priority of a native one, clamped to 1..9."""
    return max(1, min(9, round(5 - native / 250)))
