"""The Run phase / end-reason model and its mapping onto each seed's vocabulary.

A Run's `phase` uses seed 004's lifecycle names; `endReason` says why a
terminal Run ended, in seed 002's names plus `invalid` and `partial_success`.
The phase of an ended Run is a function of its end reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any, Literal

from taskops.domain.resources import names


class Phase(StrEnum):
    CREATED = "CREATED"
    SCHEDULED = "SCHEDULED"
    QUEUED = "QUEUED"
    BLOCKED = "BLOCKED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    PARTIAL_SUCCEEDED = "PARTIAL_SUCCEEDED"
    FAILED = "FAILED"
    STOPPED = "STOPPED"
    INVALID = "INVALID"


class EndReason(StrEnum):
    SUCCESS = "success"
    PARTIAL_SUCCESS = "partial_success"
    FAILED = "failed"
    TIMEOUT = "timeout"
    CRASHED = "crashed"
    START_FAILED = "start_failed"
    LOG_OVERFLOW = "log_overflow"
    DAEMON_STOPPED = "daemon_stopped"
    STOPPED = "stopped"
    SKIPPED = "skipped"
    QUEUE_FULL = "queue_full"
    DST_SKIPPED = "dst_skipped"
    MISSED = "missed"
    INVALID = "invalid"


# The end reasons of an attempt a Task may retry (spec.retryOn); the others (invalid, stopped, ...) never are.
# A Literal of the values (each an EndReason's), so that a bad retryOn is answered with the accepted values.
RetryReason = Literal["failed", "crashed", "timeout", "start_failed"]

TERMINAL_PHASES = frozenset({Phase.SUCCEEDED, Phase.PARTIAL_SUCCEEDED, Phase.FAILED, Phase.STOPPED, Phase.INVALID})
# Not started yet: what canceling a Task stops.
PENDING_PHASES = frozenset({Phase.CREATED, Phase.SCHEDULED, Phase.QUEUED, Phase.BLOCKED})
# Waiting for admission on a concurrency key or an Agent.
WAITING_PHASES = frozenset({Phase.QUEUED, Phase.BLOCKED})
# Ended without every part succeeding: a resume runs them again.
RESUMABLE_PHASES = frozenset({Phase.PARTIAL_SUCCEEDED, Phase.FAILED, Phase.STOPPED})
# A pod's phases (Kubernetes' PodPhase) whose containers ended, and those whose containers run or ran (a pod that
# has a log to read).
POD_ENDED_PHASES = frozenset({"Succeeded", "Failed"})
POD_STARTED_PHASES = frozenset({"Running", *POD_ENDED_PHASES})
# Admission's answer for a Run it does not admit: wait in one of WAITING_PHASES, or end queue_full.
WaitPhase = Literal[Phase.BLOCKED, Phase.QUEUED, "QUEUE_FULL"]

_PHASE_OF_REASON: dict[EndReason, Phase] = {
    EndReason.SUCCESS: Phase.SUCCEEDED,
    EndReason.PARTIAL_SUCCESS: Phase.PARTIAL_SUCCEEDED,
    EndReason.FAILED: Phase.FAILED,
    EndReason.TIMEOUT: Phase.FAILED,
    EndReason.CRASHED: Phase.FAILED,
    EndReason.START_FAILED: Phase.FAILED,
    EndReason.LOG_OVERFLOW: Phase.FAILED,
    EndReason.DAEMON_STOPPED: Phase.FAILED,
    EndReason.STOPPED: Phase.STOPPED,
    EndReason.SKIPPED: Phase.STOPPED,
    EndReason.QUEUE_FULL: Phase.STOPPED,
    EndReason.DST_SKIPPED: Phase.STOPPED,
    EndReason.MISSED: Phase.STOPPED,
    EndReason.INVALID: Phase.INVALID,
}


def phase_of(reason: EndReason) -> Phase:
    return _PHASE_OF_REASON[reason]


def is_terminal(phase: str | None) -> bool:
    return phase in TERMINAL_PHASES


def raw_phase(run: Mapping[str, Any]) -> str:
    """A raw Run's phase: CREATED until its first status write (SCHEDULED for a Run made ahead of its fire, which
    gets no status write until its fire: docs/schedules.md). Raw, not validated: hot paths read thousands."""
    phase = (run.get("status") or {}).get("phase")
    if phase:
        return str(phase)
    made_ahead = names.ANNOTATION_AHEAD in ((run.get("metadata") or {}).get("annotations") or {})
    return Phase.SCHEDULED.value if made_ahead else Phase.CREATED.value


# --- each seed's vocabulary, derived from (phase, end reason) -----------------


def seed000_status(phase: Phase, reason: EndReason | None) -> str:
    """Seed 000 (executions): pending, queued, running, succeeded, failed, aborted."""
    if phase in (Phase.CREATED, Phase.SCHEDULED):
        return "pending"
    if phase in WAITING_PHASES:
        return "queued"
    if phase == Phase.RUNNING:
        return "running"
    if phase == Phase.SUCCEEDED:
        return "succeeded"
    if phase == Phase.STOPPED:
        return "aborted"
    return "failed"


def seed002_status(phase: Phase, reason: EndReason | None) -> tuple[str, str | None]:
    """Seed 002 (runs): status pending/running/ended plus its end_reason."""
    if phase == Phase.RUNNING:
        return "running", None
    if phase not in TERMINAL_PHASES or reason is None:
        return "pending", None
    # 002 has no names for these two; the closest of its own is used.
    translated = {EndReason.INVALID: "start_failed", EndReason.PARTIAL_SUCCESS: "failed"}
    return "ended", translated.get(reason, reason.value)


def seed003_status(phase: Phase) -> str:
    """Seed 003 (task runs): success, failure, in_progress."""
    if phase == Phase.SUCCEEDED:
        return "success"
    if phase in TERMINAL_PHASES:
        return "failure"
    return "in_progress"
