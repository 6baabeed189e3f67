"""Time arithmetic shared by the queueing tests and the chaos suite: how many spans overlap at once."""

from __future__ import annotations

import datetime as dt

ENDED = {"SUCCEEDED", "FAILED", "STOPPED", "INVALID", "PARTIAL_SUCCEEDED"}


def parse_time(s: str) -> dt.datetime:
    return dt.datetime.fromisoformat(s.replace("Z", "+00:00"))


def _edges(intervals: list[tuple[dt.datetime, dt.datetime]]) -> list[tuple[dt.datetime, int]]:
    # Ends sort before starts at the same instant: a slot freed and taken in one tick is not an overlap.
    return sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals], key=lambda x: (x[0], x[1]))


def max_overlap(intervals: list[tuple[dt.datetime, dt.datetime]]) -> int:
    best = cur = 0
    for _, delta in _edges(intervals):
        cur += delta
        best = max(best, cur)
    return best


def exceedances(intervals: list[tuple[dt.datetime, dt.datetime]], limit: int) -> int:
    """How many starts took the number of overlapping spans above `limit` (0 when the limit held throughout)."""
    count = cur = 0
    for _, delta in _edges(intervals):
        cur += delta
        if delta > 0 and cur > limit:
            count += 1
    return count
