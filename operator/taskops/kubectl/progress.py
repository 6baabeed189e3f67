"""A batch run's progress while waiting: a bar on a terminal, a plain status line otherwise (pure)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from taskops.domain.resources import timefmt
from taskops.domain.resources.phases import raw_phase

BAR_WIDTH = 30


@dataclass(frozen=True)
class Progress:
    total: int
    succeeded: int
    failed: int
    running: int
    # Inputs finished per second since the run started, and the seconds left at that rate (None: unknown yet).
    rate: float | None
    eta: float | None

    @property
    def done(self) -> int:
        return self.succeeded + self.failed


def of_run(run: Mapping[str, Any], now: dt.datetime) -> Progress | None:
    """A batch run's progress (None for a run that is not a batch or has no batch status yet)."""
    batch = (run.get("status") or {}).get("batch")
    if not batch:
        return None
    total = int(batch.get("total") or 0)
    succeeded, failed = int(batch.get("succeeded") or 0), int(batch.get("failed") or 0)
    started = timefmt.parse_optional((run.get("status") or {}).get("startTime"))
    rate = eta = None
    if started is not None and (seconds := (now - started).total_seconds()) > 0 and succeeded + failed:
        rate = (succeeded + failed) / seconds
        eta = max(total - succeeded - failed, 0) / rate
    return Progress(total, succeeded, failed, int(batch.get("running") or 0), rate, eta)


def duration(seconds: float) -> str:
    """`4m05s`, `2h03m`, `12s`: short and fixed-looking, as a bar needs."""
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def _tail(p: Progress) -> str:
    rate = f"{p.rate:.1f}/s" if p.rate is not None else "-/s"
    eta = f"ETA {duration(p.eta)}" if p.eta is not None else "ETA -"
    return f"{rate}  {eta}"


def bar(p: Progress, width: int = BAR_WIDTH) -> str:
    """`[#########.....x....] 450/1000  ok 440  failed 10  running 25  12.5/s  ETA 44s` (one terminal line)."""
    total = max(p.total, 1)
    ok = p.succeeded * width // total
    bad = min(p.failed * width // total, width - ok)
    cells = "#" * ok + "x" * bad + "." * (width - ok - bad)
    counts = f"ok {p.succeeded}  failed {p.failed}  running {p.running}"
    return f"[{cells}] {p.done}/{p.total}  {counts}  {_tail(p)}"


def line(run: Mapping[str, Any], p: Progress | None) -> str:
    """One plain line for a log or a pipe: the phase, and a batch's counts."""
    head = f"{run['metadata']['name']}: {raw_phase(run)}"
    if p is None:
        return head
    return f"{head} {p.succeeded} succeeded, {p.failed} failed, {p.running} running of {p.total} ({_tail(p)})"
