"""Seed 001's priority scale (1 highest .. 9 lowest) against the native one (domain/resources/priority.py)."""

from __future__ import annotations

import pytest

from taskops.domain.resources import priority


@pytest.mark.parametrize(("p", "native"), [(1, 1000), (2, 750), (3, 500), (4, 250), (5, 0), (9, -1000)])
def test_seed_001_priority_to_native(p: int, native: int) -> None:
    assert priority.from_seed001(p) == native


@pytest.mark.parametrize("p", [0, 10, -1])
def test_seed_001_priority_outside_its_scale_is_refused(p: int) -> None:
    with pytest.raises(ValueError):
        priority.from_seed001(p)


@pytest.mark.parametrize(
    ("native", "p"),
    # The scale's own points, values between them (nearest point), and values beyond its ends (clamped).
    [(1000, 1), (750, 2), (500, 3), (250, 4), (0, 5), (-250, 6), (-500, 7), (-750, 8), (-1000, 9),
     (100, 5), (130, 4), (-130, 6), (5000, 1), (-5000, 9)],
)  # fmt: skip
def test_seed_001_priority_of_a_native_priority(native: int, p: int) -> None:
    assert priority.to_seed001(native) == p
