"""What happened to one attempt: a pure reading of its Job and pods.

The Job's own conditions say whether the attempt ended; the pods' container
states say how (exit code, termination message, OOM or signal).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from taskops.domain.resources import timefmt
from taskops.domain.resources.phases import EndReason

# Exit codes above 128 mean the process was killed by signal (code - 128).
_SIGNAL_BASE = 128
# Waiting reasons after which a container will not start without someone changing something.
START_FAILURES = frozenset(
    {
        "ErrImagePull",
        "ImagePullBackOff",
        "InvalidImageName",
        "ErrImageNeverPull",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
    }
)
# Pod-level reasons for a pod that died with its node or was pushed off it.
POD_LOST = frozenset({"Evicted", "NodeLost", "Terminated", "Shutdown", "NodeShutdown", "UnexpectedAdmissionError"})


@dataclass(frozen=True)
class Outcome:
    """The end of an attempt."""

    reason: EndReason
    exit_code: int | None
    message: str
    finished_at: dt.datetime | None
    termination_message: str | None = None


def _condition(job: dict[str, Any], ctype: str) -> dict[str, Any] | None:
    for cond in (job.get("status") or {}).get("conditions") or []:
        if cond.get("type") == ctype and cond.get("status") == "True":
            return dict(cond)
    return None


def finished(job: dict[str, Any]) -> dict[str, Any] | None:
    """The condition that ended the Job (Complete or Failed), or None while it runs."""
    return _condition(job, "Complete") or _condition(job, "Failed")


def container_statuses(pod: dict[str, Any]) -> list[dict[str, Any]]:
    """The pod's init containers' statuses, then its containers': an init container that failed (a batch pod's
    bad input, batchinit.py) or cannot start (its image) decides the pod as much as the container would."""
    status = pod.get("status") or {}
    return [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]


def terminated_container(pods: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The terminated state that decides the attempt: the first non-zero one, else the first."""
    states = []
    for pod in sorted(pods, key=lambda p: p.get("metadata", {}).get("creationTimestamp") or ""):
        for cs in container_statuses(pod):
            term = (cs.get("state") or {}).get("terminated")
            if term:
                states.append(term)
    failing = [t for t in states if t.get("exitCode", 0) != 0]
    chosen: dict[str, Any] | None = failing[-1] if failing else (states[-1] if states else None)
    return chosen


def observe(job: dict[str, Any], pods: list[dict[str, Any]]) -> Outcome | None:
    """The attempt's outcome, or None while the Job has not finished."""
    complete = _condition(job, "Complete")
    failed = _condition(job, "Failed")
    if not complete and not failed:
        return None
    term = terminated_container(pods)
    exit_code = term.get("exitCode") if term else None
    lost = next((p for p in pods if (p.get("status") or {}).get("reason") in POD_LOST), None)
    term_message = (term.get("message") or None) if term else None
    if complete:
        return Outcome(
            EndReason.SUCCESS,
            exit_code if exit_code is not None else 0,
            "completed successfully",
            timefmt.parse_optional(complete.get("lastTransitionTime")),
            term_message,
        )
    assert failed is not None
    finished = timefmt.parse_optional(failed.get("lastTransitionTime"))
    if failed.get("reason") == "DeadlineExceeded":
        return Outcome(
            EndReason.TIMEOUT, exit_code, failed.get("message") or "the attempt timed out", finished, term_message
        )
    if lost is not None and (term is None or term.get("exitCode") != 0):
        pod_status = lost.get("status") or {}
        return Outcome(
            EndReason.CRASHED,
            exit_code,
            f"the pod was lost: {pod_status.get('reason')}: {pod_status.get('message') or ''}".rstrip(": "),
            finished,
            term_message,
        )
    if term is None:
        return Outcome(EndReason.FAILED, None, failed.get("message") or "the Job failed", finished)
    reason = term.get("reason") or ""
    if reason == "OOMKilled":
        return Outcome(
            EndReason.CRASHED, exit_code, "the container was killed: out of memory (OOMKilled)", finished, term_message
        )
    if exit_code is not None and exit_code > _SIGNAL_BASE:
        return Outcome(
            EndReason.CRASHED,
            exit_code,
            f"the container was killed by signal {exit_code - _SIGNAL_BASE}",
            finished,
            term_message,
        )
    return Outcome(EndReason.FAILED, exit_code, f"the container exited with code {exit_code}", finished, term_message)


def start_failure(pods: list[dict[str, Any]]) -> Outcome | None:
    """An attempt whose container cannot start (bad image, bad config) never ends by itself."""
    for pod in pods:
        for cs in container_statuses(pod):
            waiting = (cs.get("state") or {}).get("waiting") or {}
            if waiting.get("reason") in START_FAILURES:
                detail = f"{waiting['reason']}: {waiting.get('message') or ''}".rstrip(": ")
                return Outcome(
                    EndReason.START_FAILED, None, f"container {cs.get('name')} cannot start ({detail})", None
                )
    return None


def job_event_matters(type_: str, job: dict[str, Any]) -> bool:
    """Whether a watch event of a single-pod attempt's Job can change what `decide` does for its Run: the Job
    appearing (a Run made ahead is started by its fire's Job) or going (it is created again), or its end. The Job
    controller's progress writes in between (active, ready, the pod counts: three or four a Job) change nothing
    `decide` reads, and each woke a reconcile that decided nothing. (A batch Run reads them: not filtered.)"""
    return type_ != "MODIFIED" or finished(job) is not None


def pod_event_matters(pod: dict[str, Any], job: dict[str, Any] | None) -> bool:
    """Whether a watch event of a single-pod attempt's pod can change what `decide` does for its Run: while its
    Job runs only a container that can never start does (`start_failure`); once the Job has ended, the pod's
    terminated state gives the exit code, the termination message and the reason of a loss (a Job seen Failed
    before its pod waits for it). Its creation, binding, Running and readiness (four or five events a pod) do not.
    With its Job not in the cache, every event counts (nothing to judge by)."""
    return job is None or finished(job) is not None or start_failure([pod]) is not None


def pod_started(pods: list[dict[str, Any]]) -> dt.datetime | None:
    """When the attempt's first pod started running."""
    times = [timefmt.parse_optional((p.get("status") or {}).get("startTime")) for p in pods]
    known = [t for t in times if t is not None]
    return min(known) if known else None
