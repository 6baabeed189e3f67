"""Admission decision time for 10,000 pending Runs (pure logic; no cluster needed).

100 concurrency keys (limit 2) and 10 agents (capacity 30), priorities -10..10,
Runs arriving one per second. Reports the median and worst of repeated
decisions, with the queue kept in order (how the operator holds it) and sorted
from scratch, next to the time to copy the 10,000 entries as a reference.

    python -m bench.admission
"""

from __future__ import annotations

import random
import statistics
import time
from typing import Any

from bench.common import save
from taskops.domain.queueing.admission import Capacity, Pending, admit

N = 10_000
REPEAT = 30


def workload() -> tuple[list[Pending], Capacity]:
    rng = random.Random(7)
    pending = [
        Pending(
            ("bench", f"run-{i:05d}"),
            rng.randint(-10, 10),
            f"2026-01-01T{i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z",
            f"bench/key-{rng.randrange(100)}",
            f"bench/agent-{rng.randrange(10)}",
        )
        for i in range(N)
    ]
    cap = Capacity(
        key_limits={f"bench/key-{k}": 2 for k in range(100)},
        agent_limits={f"bench/agent-{a}": 30 for a in range(10)},
        running_by_key={f"bench/key-{k}": k % 3 for k in range(100)},
        running_by_agent={f"bench/agent-{a}": 10 for a in range(10)},
    )
    return pending, cap


def timed(fn: object, repeat: int = REPEAT) -> list[float]:
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        out.append((time.perf_counter() - start) * 1000)
    return out


def main() -> None:
    pending, cap = workload()
    ordered = sorted(pending, key=Pending.order)
    presorted = timed(lambda: admit(ordered, cap, presorted=True))
    unsorted = timed(lambda: admit(pending, cap))
    copy = timed(lambda: list(pending))
    verdict = admit(ordered, cap, presorted=True)
    results: dict[str, Any] = {
        "pending": N,
        "admitted": len(verdict.admit),
        "waiting": len(verdict.waits),
        "presorted_ms": {"median": statistics.median(presorted), "max": max(presorted)},
        "unsorted_ms": {"median": statistics.median(unsorted), "max": max(unsorted)},
        "reference_copy_ms": {"median": statistics.median(copy)},
    }
    print(f"admission of {N} pending runs ({len(verdict.admit)} admitted, {len(verdict.waits)} waiting)")
    print(
        f"  queue kept in order (operator): median {results['presorted_ms']['median']:.2f} ms, "
        f"max {results['presorted_ms']['max']:.2f} ms"
    )
    print(
        f"  sorted from scratch:            median {results['unsorted_ms']['median']:.2f} ms, "
        f"max {results['unsorted_ms']['max']:.2f} ms"
    )
    print(
        f"  reference, copying the list:    median {results['reference_copy_ms']['median']:.3f} ms "
        f"(ratio {results['presorted_ms']['median'] / results['reference_copy_ms']['median']:.0f}x)"
    )
    print(f"saved {save('admission', results)}")


if __name__ == "__main__":
    main()
