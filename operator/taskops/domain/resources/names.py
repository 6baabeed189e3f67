"""Deterministic names of the objects taskops creates.

A name derived from its inputs makes creation idempotent: after a crash the
operator recreates the same name and the API server answers AlreadyExists
instead of a second object appearing.
"""

from __future__ import annotations

import datetime as dt
import hashlib

# A Job's name is also the value of its pods' `batch.kubernetes.io/job-name` label: 63 characters at most.
JOB_NAME_MAX = 63

LABEL_TASK = "taskops.dev/task"
LABEL_RUN = "taskops.dev/run"
LABEL_ATTEMPT = "taskops.dev/attempt"
# Set by the Job controller on a Job's pods.
LABEL_JOB_NAME = "batch.kubernetes.io/job-name"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
# A DNS subdomain (RFC 1123): what most Kubernetes object names must be (Secrets, ConfigMaps, custom resources).
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"
MANAGED_BY = "taskops"


def digest(text: str, n: int = 8) -> str:
    """The first `n` hex digits of the SHA-256 of `text`: what a derived name carries of a longer one."""
    return hashlib.sha256(text.encode()).hexdigest()[:n]


def shortened(base: str, suffix: str, limit: int) -> str:
    """`base + suffix`; when that exceeds `limit` characters, the base is cut and followed by a hash of itself
    (8 hex digits), so that two long bases sharing a prefix still make two names."""
    if len(base) + len(suffix) <= limit:
        return f"{base}{suffix}"
    keep = limit - len(suffix) - 9
    return f"{base[:keep].rstrip('-.')}-{digest(base)}{suffix}"


def job_name(run_name: str, attempt: int) -> str:
    """`<run>-<attempt>`, shortened with a hash of the run name when it would exceed 63 characters."""
    return shortened(run_name, f"-{attempt}", JOB_NAME_MAX)


LABEL_SCHEDULED = "taskops.dev/scheduled"
ANNOTATION_DISPOSITION = "taskops.dev/disposition"
ANNOTATION_DISPOSITION_MESSAGE = "taskops.dev/disposition-message"
ANNOTATION_STOP_MESSAGE = "taskops.dev/stop-message"
# On a Run the Task controller created ahead of its fire: the Task generation it was made for. Only the fire
# starts such a Run (domain/scheduling/firedruns.py).
ANNOTATION_AHEAD = "taskops.dev/ahead-of-fire"
# A Run's name is also the `taskops.dev/run` label value of its Jobs and pods: 63 characters at most.
RUN_NAME_MAX = 63


def scheduled_run_name(task_name: str, at: dt.datetime) -> str:
    """`<task>-<YYYYMMDD>-<HHMMSS>` (UTC): one name per (Task, fire time), so a fire is created once."""
    stamp = at.astimezone(dt.UTC).strftime("%Y%m%d-%H%M%S")
    return shortened(task_name, f"-{stamp}", RUN_NAME_MAX)
