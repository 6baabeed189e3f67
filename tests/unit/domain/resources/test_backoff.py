"""Retry backoff sequences (domain/resources/backoff.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from taskops.domain.resources import backoff


def test_fixed_and_linear_sequences() -> None:
    assert [backoff.delay("fixed", n, 5, 60) for n in range(1, 5)] == [5, 5, 5, 5]
    assert [backoff.delay("linear", n, 5, 12) for n in range(1, 5)] == [5, 10, 12, 12]


@given(st.integers(1, 200), st.floats(0.1, 100), st.floats(1, 5000), st.text(max_size=8))
def test_exponential_jitter_bounds(n: int, base: float, cap: float, seed: str) -> None:
    d = backoff.delay("exponential_jitter", n, base, cap, seed)
    full = min(cap, base * 2 ** min(n - 1, 64))
    assert full / 2 <= d <= full <= cap
    assert d == backoff.delay("exponential_jitter", n, base, cap, seed)  # a restart computes the same delay


def test_exponential_doubles_until_the_cap() -> None:
    ds = [backoff.delay("exponential_jitter", n, 10, 100, "run") for n in range(1, 7)]
    fulls = [10, 20, 40, 80, 100, 100]
    assert all(f / 2 <= d <= f for d, f in zip(ds, fulls, strict=True))
    with pytest.raises(ValueError):
        backoff.delay("fixed", 0)
