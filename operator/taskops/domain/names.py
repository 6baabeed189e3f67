"""Deterministic names of the objects taskops creates.

A name derived from its inputs makes creation idempotent: after a crash the
operator recreates the same name and the API server answers AlreadyExists
instead of a second object appearing.
"""

from __future__ import annotations

import hashlib

# A Job's name is also the value of its pods' `batch.kubernetes.io/job-name` label: 63 characters at most.
JOB_NAME_MAX = 63

LABEL_TASK = "taskops.dev/task"
LABEL_RUN = "taskops.dev/run"
LABEL_ATTEMPT = "taskops.dev/attempt"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY = "taskops"


def _digest(text: str, n: int = 8) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:n]


def job_name(run_name: str, attempt: int) -> str:
    """`<run>-<attempt>`, shortened with a hash of the run name when it would exceed 63 characters."""
    suffix = f"-{attempt}"
    plain = f"{run_name}{suffix}"
    if len(plain) <= JOB_NAME_MAX:
        return plain
    keep = JOB_NAME_MAX - len(suffix) - 9
    return f"{run_name[:keep].rstrip('-.')}-{_digest(run_name)}{suffix}"
