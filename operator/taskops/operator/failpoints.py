"""Fault injection for crash tests: kill the process at a named point, or slow a step down.

`TASKOPS_FAILPOINTS=after-job-create` makes the operator SIGKILL itself right
after it creates a Job, the worst moment for a crash. `slow-list-<plural>`
(e.g. `slow-list-controllerrevisions`) holds that informer's first LIST back
for `SLOW_LIST_SECONDS`: the order in which a restart's caches fill is then the
test's, not the scheduler's. Unset in production, each costs one set lookup.
"""

from __future__ import annotations

import os
import signal

SLOW_LIST_SECONDS = 3.0

_ENABLED = frozenset(filter(None, os.environ.get("TASKOPS_FAILPOINTS", "").split(",")))


def failpoint(name: str) -> None:
    if name in _ENABLED:
        os.kill(os.getpid(), signal.SIGKILL)


def enabled(name: str) -> bool:
    return name in _ENABLED
