"""Which pods make up a Run's log, in which order: every attempt's pods, oldest attempt first.

`GET /api/v1/runs/{id}/logs` reads the pods of a Run one after the other (a
retry's new pod continues the same stream); a batch run's log is that of one
input index, whose pod has a different completion index in a resume attempt
(the attempt's index map says which). Pure: the API lists the pods and reads
the maps, this module orders and chooses.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from taskops.domain.execution.batchresults import COMPLETION_INDEX
from taskops.domain.resources import names
from taskops.domain.resources.phases import POD_STARTED_PHASES

# Lines the API writes between two pods' logs; nothing a container prints is changed.
MARKER_PREFIX = "--- taskops: "


def attempt_of(pod: Mapping[str, Any]) -> int:
    """The Run attempt a pod belongs to (its `taskops.dev/attempt` label; 0 when missing)."""
    raw = ((pod.get("metadata") or {}).get("labels") or {}).get(names.LABEL_ATTEMPT) or ""
    return int(raw) if raw.isdigit() else 0


def order(pods: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Oldest attempt first, then the order the pods were created in (a Job may replace a lost pod)."""
    return sorted(
        pods,
        key=lambda p: (attempt_of(p), (p.get("metadata") or {}).get("creationTimestamp") or "", p["metadata"]["name"]),
    )


def started(pod: Mapping[str, Any]) -> bool:
    """The pod has a log to read: its containers run or ran (a pending pod's log request is refused)."""
    status = pod.get("status") or {}
    if status.get("phase") in POD_STARTED_PHASES:
        return True
    return any("running" in (s.get("state") or {}) or "terminated" in (s.get("state") or {})
               for s in status.get("containerStatuses") or [])  # fmt: skip


@dataclass(frozen=True)
class Next:
    """What a log stream does next: read `pod`, or wait for one (`pod` None and not `done`), or end."""

    pod: Mapping[str, Any] | None = None
    done: bool = False


def next_pod(pods: Iterable[Mapping[str, Any]], read: set[str], run_ended: bool) -> Next:
    """The first pod, in `order`, not read yet; a pod that has not started is waited for (so attempts stay in
    order) unless the Run ended, when it never will. Once every pod was read: done if the Run ended, else wait.

    `run_ended` must describe the Run as it was read *before* `pods` were listed: a Run's last pod exists before
    the Run ends, so a list made after the end holds every pod there will be.
    """
    for pod in order(pods):
        if pod["metadata"]["name"] in read:
            continue
        if started(pod):
            return Next(pod)
        if not run_ended:
            return Next()
    return Next(done=run_ended)


def marker(pod: Mapping[str, Any], index: int | None = None) -> bytes:
    """The line written before each pod's log but the first: which attempt and pod the following lines are."""
    where = f" (input {index})" if index is not None else ""
    return f"{MARKER_PREFIX}attempt {attempt_of(pod)}{where}, pod {pod['metadata']['name']} ---\n".encode()


def unreadable(pod: Mapping[str, Any], why: str) -> bytes:
    """The line written instead of a pod's log the kubelet would not give (the pod went away, ...)."""
    return f"{MARKER_PREFIX}the log of pod {pod['metadata']['name']} could not be read: {why[:300]} ---\n".encode()


def run_selector(run_name: str, attempt: int | None = None, completion_index: int | None = None) -> str:
    """The label selector of a Run's pods: all of them, or one attempt's pod of one completion index."""
    parts = [f"{names.LABEL_RUN}={run_name}"]
    if attempt is not None:
        parts.append(f"{names.LABEL_ATTEMPT}={attempt}")
    if completion_index is not None:
        parts.append(f"{COMPLETION_INDEX}={completion_index}")
    return ",".join(parts)


def completion_index(index_map: Sequence[int] | None, original: int) -> int | None:
    """The completion index that runs input `original` in an attempt whose index map is `index_map` (None: the
    attempt runs every input, so the same index); None when that attempt does not run it."""
    if index_map is None:
        return original
    try:
        return index_map.index(original)
    except ValueError:
        return None
