"""SIGKILL the operator at random intervals and start it again at once, on a thread, for a `with` block."""

from __future__ import annotations

import random
import threading
import time

from tests.integration.processes import OperatorProcess


class Killer:
    def __init__(self, operator: OperatorProcess, every: tuple[float, float], rng: random.Random) -> None:
        self.operator = operator
        self.every = every
        self.rng = rng
        self.kills = 0
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
        self.operator.kill()
        self.kills += 1
        self.operator.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.rng.uniform(*self.every)):
            self.operator.kill()
            self.kills += 1
            # A replacement pod comes up a moment later, not in the same instant.
            time.sleep(0.3)
            self.operator.start()
