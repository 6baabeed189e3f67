"""When Python's cyclic garbage collector may pause the event loop: at a quiet moment, not amid a burst of fires.

A full collection visits every object the informer caches hold, and stops the event loop while it does. With
1,000 Tasks firing each minute (bench.schedule_lag) the operator ran one every ~10 s, each 0.3-1.3 s (more with
100,000 Runs cached), wherever it fell, the seconds of a burst of fires included (6.7 s of stopped loop in three
minutes; docs/benchmarks.md, tenth round). Reference counting frees
the caches' objects (trees of JSON, without cycles) as they are replaced; the collector finds little.

So: the automatic full collections are off (the young generations' stay: they visit only new objects, ~15 ms);
what the first LISTs brought in is frozen (`gc.freeze`: never visited again, still freed by reference counting);
and `collect_when_quiet` runs a full collection every `FULL_EVERY` seconds, at a moment when no fire is in flight
or due within `QUIET_AHEAD` seconds, or after `LATEST` seconds of waiting for one (fires every second: the
collection cannot be put off for ever, or cyclic garbage would grow without bound)."""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable

from taskops.domain.resources.clock import SYSTEM, Clock

log = logging.getLogger("taskops.garbage")

# Seconds between full collections: cyclic garbage lives at most this much plus LATEST longer than it would have.
FULL_EVERY = 120.0
# Seconds a collection waits at most for a quiet moment.
LATEST = 60.0
# A moment is quiet when no fire is in flight and none is due within this many seconds (a full collection of the
# caches of 1,000 Tasks takes ~0.5 s on two loaded cores).
QUIET_AHEAD = 2.0
# How often a collection that waits looks again.
POLL = 0.5
# gc's third threshold (full collections per young-generation collections): never reached.
NO_AUTOMATIC_FULL = 2**30


def take_over() -> None:
    """Turn the automatic full collections off; call once, before the caches are listed."""
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, NO_AUTOMATIC_FULL)


def freeze_listed() -> None:
    """Once every cache has its first LIST: freeze every object (it is not visited again). No collection first: with
    100,000 Runs listed it would stop the loop for seconds just as the controllers start, for a little garbage."""
    gc.freeze()
    log.info("froze %d objects after the first LISTs", gc.get_freeze_count())


async def collect_when_quiet(
    quiet: Callable[[], bool], clock: Clock = SYSTEM, collect: Callable[[], int] = gc.collect
) -> None:
    """Forever: every FULL_EVERY seconds, a full collection at the first quiet moment (LATEST at most)."""
    while True:
        await clock.sleep(FULL_EVERY)
        deadline = clock.monotonic() + LATEST
        while not quiet() and clock.monotonic() < deadline:
            await clock.sleep(POLL)
        started = time.perf_counter()
        found = collect()
        log.debug("full collection: %d objects freed in %.0f ms", found, 1000 * (time.perf_counter() - started))
