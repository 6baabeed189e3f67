"""Per-input results of a batch run: each input's outcome and termination message, in chunked ConfigMaps.

A batch run's pods write their result to /dev/termination-log like any other
run's. When an input's outcome is final (its index is in the Job's
completedIndexes or failedIndexes), the operator records one entry for it:
data key `<original index>` in ConfigMap `<run>-results-<k>`, value a compact
JSON object (`entry`). Chunks fill up to MAX_CHUNK_BYTES in the order entries
are recorded; `status.batch.results` says how many chunks there are, how full
the last one is, and which indexes are recorded, so a restarted operator picks
up where it stopped. A resumed input is recorded again under its new attempt:
readers keep the entry with the highest attempt (`merge`).

Pods are read from the operator's cache, so they can be gone (deleted, or
garbage-collected past the cluster's terminated-pod threshold) before they are
seen; such an input is recorded with `"missing": true` once its Job has ended.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from taskops.domain.execution.attempts import terminated_container
from taskops.domain.execution.batch import config_map, format_ranges, parse_ranges, suffixed
from taskops.domain.resources.phases import POD_ENDED_PHASES
from taskops.domain.resources.run import BatchResults

InputStatus = Literal["succeeded", "failed"]

LABEL_CONTENTS = "taskops.dev/contents"
CONTENTS_RESULTS = "results"
# A ConfigMap holds at most 1 MiB; a termination message at most 4 KiB, so an entry fits many times over.
MAX_CHUNK_BYTES = 900_000
# Key, quotes, colon and comma of one data entry as the API server stores it.
_ENTRY_OVERHEAD = 8
COMPLETION_INDEX = "batch.kubernetes.io/job-completion-index"


def results_name(run_name: str, k: int) -> str:
    """`<run>-results-<k>` (shortened with a hash of the run name beyond 253 characters)."""
    return suffixed(run_name, f"-results-{k}")


@dataclass(frozen=True)
class Entry:
    """The recorded outcome of one input."""

    index: int
    status: InputStatus
    attempt: int
    exit_code: int | None = None
    result: Any = None
    reason: str | None = None
    missing: bool = False

    def value(self) -> str:
        out: dict[str, Any] = {"status": self.status, "attempt": self.attempt}
        if self.exit_code is not None:
            out["exitCode"] = self.exit_code
        if self.result is not None:
            out["result"] = self.result
        if self.reason:
            out["reason"] = self.reason
        if self.missing:
            out["missing"] = True
        return json.dumps(out, separators=(",", ":"))


def _parse_message(message: str | None) -> Any:
    if message is None or not message.strip():
        return None
    try:
        return json.loads(message)
    except ValueError:
        return message


def pod_entries(pods: Iterable[Mapping[str, Any]], own: Sequence[int] | None, attempt: int) -> dict[int, Entry]:
    """The outcome of each original input index that has a terminated pod in `pods` (one attempt's Job).

    `own` maps the Job's completion index to the original index (None: the same). A succeeded pod
    decides its index; otherwise the index's last failed pod (by finish time) does.
    """
    best: dict[int, tuple[bool, str, Entry]] = {}
    for pod in pods:
        phase = (pod.get("status") or {}).get("phase")
        if phase not in POD_ENDED_PHASES:
            continue
        raw = ((pod.get("metadata") or {}).get("annotations") or {}).get(COMPLETION_INDEX)
        if raw is None or not raw.isdigit():
            continue
        job_index = int(raw)
        if own is not None and job_index >= len(own):
            continue
        index = own[job_index] if own is not None else job_index
        term = terminated_container([dict(pod)]) or {}
        ok = phase == "Succeeded"
        entry = Entry(
            index=index,
            status="succeeded" if ok else "failed",
            attempt=attempt,
            exit_code=term.get("exitCode"),
            result=_parse_message(term.get("message")),
            reason=None if ok else (term.get("reason") or (pod.get("status") or {}).get("reason")),
        )
        rank = (ok, str(term.get("finishedAt") or ""), entry)
        if index not in best or rank[:2] > best[index][:2]:
            best[index] = rank
    return {i: r[2] for i, r in best.items()}


@dataclass
class Recording:
    """What one reconcile records: ConfigMap writes (in order) and the new `status.batch.results`."""

    state: BatchResults
    # (ConfigMap, new): a new chunk is created; an existing one gets its data merged in.
    writes: list[tuple[dict[str, Any], bool]] = field(default_factory=list)
    # Final inputs not recorded yet because their pods are not in the cache.
    pending: int = 0


@dataclass(frozen=True)
class RunRef:
    name: str
    namespace: str
    uid: str


def record(
    run: RunRef,
    state: BatchResults | None,
    completed: Iterable[int],
    failed: Iterable[int],
    entries: Mapping[int, Entry],
    attempt: int,
    missing_ok: bool,
    max_bytes: int = MAX_CHUNK_BYTES,
) -> Recording:
    """Record every final input not recorded yet; those without a terminated pod only when `missing_ok`
    (the Job has ended and its pods had time to reach the cache), else they count as `pending`."""
    state = state.model_copy() if state is not None else BatchResults()
    recorded = set(parse_ranges(state.recorded))
    outcome: dict[int, InputStatus] = {i: "succeeded" for i in completed}
    outcome.update({i: "failed" for i in failed})
    new: list[Entry] = []
    pending = 0
    for index in sorted(set(outcome) - recorded):
        entry = entries.get(index)
        if entry is not None and entry.status != outcome[index]:
            # The cache holds an older pod of this index than the Job's status counts: wait for the newer one.
            entry = None
        if entry is None:
            if not missing_ok:
                pending += 1
                continue
            entry = Entry(index=index, status=outcome[index], attempt=attempt, missing=True)
        new.append(entry)
    out = Recording(state=state, pending=pending)
    if not new:
        return out
    chunks: dict[int, dict[str, str]] = {}
    k, used = state.config_maps - 1, state.open_bytes
    fresh: set[int] = set()
    for entry in new:
        key, value = str(entry.index), entry.value()
        size = len(key) + len(value.encode()) + _ENTRY_OVERHEAD
        if k < 0 or used + size > max_bytes:
            k, used = k + 1, 0
            fresh.add(k)
        chunks.setdefault(k, {})[key] = value
        used += size
    for chunk, data in sorted(chunks.items()):
        cm = config_map(results_name(run.name, chunk), run.namespace, run.name, run.uid, data)
        cm["metadata"]["labels"][LABEL_CONTENTS] = CONTENTS_RESULTS
        out.writes.append((cm, chunk in fresh))
    state.config_maps, state.open_bytes = k + 1, used
    state.recorded = format_ranges(recorded | {e.index for e in new})
    return out


def forget(state: BatchResults | None, indexes: Iterable[int]) -> BatchResults | None:
    """The state after a resume: the inputs it reruns are recorded again when they end."""
    if state is None:
        return None
    return state.model_copy(update={"recorded": format_ranges(set(parse_ranges(state.recorded)) - set(indexes))})


def merge(chunks: Iterable[Mapping[str, str]]) -> dict[int, dict[str, Any]]:
    """index → entry over all result chunks, the highest attempt winning; unreadable entries are skipped."""
    out: dict[int, dict[str, Any]] = {}
    for data in chunks:
        for key, value in data.items():
            if not key.isdigit():
                continue
            try:
                entry = json.loads(value)
            except ValueError:
                continue
            if not isinstance(entry, dict):
                continue
            index = int(key)
            if index not in out or int(entry.get("attempt") or 0) >= int(out[index].get("attempt") or 0):
                out[index] = entry
    return out
