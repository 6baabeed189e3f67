"""Fault injection for crash tests: kill the process at a named point.

`TASKOPS_FAILPOINTS=after-job-create` makes the operator SIGKILL itself right
after it creates a Job, the worst moment for a crash. Unset in production,
it costs one set lookup.
"""

from __future__ import annotations

import os
import signal

_ENABLED = frozenset(filter(None, os.environ.get("TASKOPS_FAILPOINTS", "").split(",")))


def failpoint(name: str) -> None:
    if name in _ENABLED:
        os.kill(os.getpid(), signal.SIGKILL)
