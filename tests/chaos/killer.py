"""SIGKILL the operator at random intervals and start it again at once, on a thread, for a `with` block.

With `outage`, a share of the kills (`outage[0]`) keep the operator down for a while (uniform in `outage[1]`
seconds) before it starts again: long enough, say, for scheduled fires to be missed (docs/schedules.md). With
`aim`, each kill is moved to within `aim` seconds after a whole second, when fires due at that second are in
flight (a Run or Job sent, its status not yet written).
"""

from __future__ import annotations

import random
import threading
import time

from tests.integration.processes import OperatorProcess

# A replacement pod comes up a moment later, not in the same instant.
RESTART_AFTER = 0.3


class Killer:
    def __init__(
        self,
        operator: OperatorProcess,
        every: tuple[float, float],
        rng: random.Random,
        outage: tuple[float, tuple[float, float]] | None = None,
        aim: float | None = None,
    ) -> None:
        self.operator = operator
        self.every = every
        self.rng = rng
        self.outage = outage
        self.aim = aim
        self.kills = 0
        # Kills that kept the operator down for an outage; and every span it was down, as (kill, start) in epoch
        # seconds, so that a delay can be measured in the time the operator had.
        self.outages = 0
        self.downs: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="operator-killer", daemon=True)

    def __enter__(self) -> Killer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        # A child dies with the thread that spawned it (PR_SET_PDEATHSIG), and the killer thread has just
        # ended: one last SIGKILL and start from this thread, so the operator outlives the block.
        killed = time.time()
        self.operator.kill()
        self.kills += 1
        self.operator.start()
        self.downs.append((killed, time.time()))

    def down_between(self, start: float, end: float) -> float:
        """Seconds the operator was down between two epoch times."""
        return sum(max(0.0, min(end, b) - max(start, a)) for a, b in self.downs)

    def _loop(self) -> None:
        while not self._stop.wait(self._next()):
            killed = time.time()
            self.operator.kill()
            self.kills += 1
            down = RESTART_AFTER
            if self.outage is not None and self.rng.random() < self.outage[0]:
                down = self.rng.uniform(*self.outage[1])
                self.outages += 1
            self._stop.wait(down)
            self.operator.start()
            self.downs.append((killed, time.time()))

    def _next(self) -> float:
        """Seconds until the next kill."""
        wait = self.rng.uniform(*self.every)
        if self.aim is None:
            return wait
        at = time.time() + wait
        return wait + (1 - at % 1) + self.rng.uniform(0, self.aim)
