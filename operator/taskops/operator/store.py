"""In-memory caches of the objects the operator watches: Tasks, Agents and Task versions from kopf's watch events
(handlers.py); Runs, and the Jobs, pods and ConfigMaps labelled taskops.dev/run, from the informers (watches.py).

Each kind's cache is typed with its raw body (domain/resources/raw.py): the hot paths read
the objects as the API server sent them, with no parse, and mypy checks the keys.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Generic, TypeVar, cast

from taskops import GROUP
from taskops.clients.informer import Key, key_of
from taskops.domain.delivery.webhooks import undelivered
from taskops.domain.execution.batch import resume_wanted
from taskops.domain.resources import names
from taskops.domain.resources.phases import is_terminal
from taskops.domain.resources.raw import RawAgent, RawBody, RawConfigMap, RawJob, RawPod, RawRevision, RawRun, RawTask

Obj = dict[str, Any]
B = TypeVar("B", bound=RawBody)


def _newer(new: RawBody, old: RawBody | None) -> bool:
    """Watch streams of different resources interleave, and our own writes land before their events."""
    if old is None:
        return True
    try:
        return int(new["metadata"]["resourceVersion"]) >= int(old["metadata"]["resourceVersion"])
    except (KeyError, ValueError):
        return True


class Kind(Generic[B]):
    """One kind's objects by key, plus one secondary index (objects by a value derived from each)."""

    def __init__(self, index: Callable[[B], str | None] | None = None) -> None:
        self.objects: dict[Key, B] = {}
        self._index = index
        self._by_label: dict[Key, set[str]] = defaultdict(set)

    def get(self, key: Key) -> B | None:
        return self.objects.get(key)

    def put(self, obj: B | Obj) -> bool:
        """Keep `obj` unless the cache has a newer copy; an untyped body (a write's answer) is the same object."""
        return self._put(cast(B, obj))

    def _put(self, obj: B) -> bool:
        key = key_of(obj)
        if not _newer(obj, self.objects.get(key)):
            return False
        old = self.objects.get(key)
        if old is not None and self._label(old) != self._label(obj):
            self._unindex(old)
        self.objects[key] = obj
        label = self._label(obj)
        if label:
            self._by_label[(key[0], label)].add(key[1])
        return True

    def apply(self, type_: str, obj: Obj) -> bool:
        """A watch event: put `obj`, or remove it when it was deleted (then False)."""
        if type_ == "DELETED":
            self.remove(obj)
            return False
        self.put(obj)
        return True

    def remove(self, obj: B | Obj) -> None:
        old = self.objects.pop(key_of(obj), None)
        self._unindex(old or cast(B, obj))

    def _unindex(self, obj: B) -> None:
        key = key_of(obj)
        label = self._label(obj)
        if label:
            names_ = self._by_label.get((key[0], label))
            if names_ is not None:
                names_.discard(key[1])
                if not names_:
                    del self._by_label[(key[0], label)]

    def by_label(self, namespace: str, value: str) -> list[B]:
        return [o for n in self._by_label.get((namespace, value), ()) if (o := self.objects.get((namespace, n)))]

    def _label(self, obj: B) -> str | None:
        return self._index(obj) if self._index else None

    def __len__(self) -> int:
        return len(self.objects)


def _label(name: str) -> Callable[[RawBody], str | None]:
    return lambda obj: (obj["metadata"].get("labels") or {}).get(name)


def run_owner(obj: Obj) -> str | None:
    """The name of the Run that owns this object, if one does."""
    for ref in obj["metadata"].get("ownerReferences") or []:
        if ref.get("kind") == "Run" and str(ref.get("apiVersion", "")).startswith(f"{GROUP}/"):
            name = ref.get("name")
            return str(name) if name else None
    return None


def owned_by_task(obj: Obj) -> bool:
    """A taskops Task owns this object (a schedule's shared input chunks)."""
    return any(
        ref.get("kind") == "Task" and str(ref.get("apiVersion", "")).startswith(f"{GROUP}/")
        for ref in obj["metadata"].get("ownerReferences") or []
    )


def without_managed_fields(obj: Obj) -> Obj:
    """A shallow copy without managedFields (often half an object, never read), leaving `obj` as it was."""
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k != "managedFields"}
    return {**obj, "metadata": meta}


def without_data(obj: Obj) -> Obj:
    """A ConfigMap's metadata and data keys: input chunks can be large, the cache needs only their names."""
    return {**obj, "data": dict.fromkeys(obj.get("data") or {}, ""), "binaryData": None}


def packed_revision(obj: Obj) -> Obj:
    """A Task version as the cache keeps it: its versioned spec (`data`) as JSON bytes, about a tenth of the same
    spec as dicts. Only `versions.from_revision` reads `data`, and it reads both forms."""
    lean = without_managed_fields(obj)
    data = lean.get("data")
    if isinstance(data, dict):
        # The standard encoder on purpose: orjson's bytes keep the whole buffer it wrote into (8 KB where the
        # JSON is 0.6 KB). A spec too deep for it (kubectl can store one) stays as it is.
        with contextlib.suppress(RecursionError, ValueError):
            lean["data"] = json.dumps(data, separators=(",", ":")).encode()
    return lean


# Marks a Run the cache keeps as a summary; whoever needs the rest reads it from the API server.
SUMMARY = "taskops.dev/summary"
# Kept of an ended Run: spec taskRef, dedupeKey, callbackUrl; status phase, endTime, endReason, webhook, and
# concurrencyKey and agent (a Run's end frees a slot, and the watch listener wakes admission on them).


class RunSummary(Mapping[str, Any]):
    """An ended Run as the cache keeps it, read like the object it summarizes (`run["status"]["phase"]`,
    `run.get("spec")`): one slotted object (about 0.4 KB with its strings) where the same fields as nested
    dicts took 1.3 KB; each part is built when read. Not a dict on purpose: serializing it fails loudly."""

    __slots__ = (
        "_created",
        "_end",
        "_name",
        "_namespace",
        "_phase",
        "_reason",
        "_spec",
        "_status",
        "_task",
        "_version",
    )

    def __init__(self, meta: Obj, spec: Obj, status: Obj) -> None:
        self._name: str = meta["name"]
        self._namespace: str = sys.intern(meta.get("namespace") or "")
        self._version: str | None = meta.get("resourceVersion")
        self._created: str | None = meta.get("creationTimestamp")
        task = (spec.get("taskRef") or {}).get("name")
        self._task: str | None = sys.intern(task) if task else None
        self._phase: str = sys.intern(str(status["phase"]))
        self._end: str | None = status.get("endTime")
        reason = status.get("endReason")
        self._reason: str | None = sys.intern(reason) if isinstance(reason, str) else reason
        # The rarer fields as (key, value) pairs: the empty tuple (shared) when there are none.
        self._spec = _pairs(spec, ("dedupeKey", "callbackUrl"))
        self._status = _pairs(status, ("webhook", "concurrencyKey", "agent"))

    def _metadata(self) -> Obj:
        meta: Obj = {"name": self._name, "namespace": self._namespace}
        if self._version is not None:
            meta["resourceVersion"] = self._version
        if self._created is not None:
            meta["creationTimestamp"] = self._created
        return meta

    def _spec_dict(self) -> Obj:
        spec: Obj = {"taskRef": {"name": self._task}} if self._task else {}
        spec.update(self._spec)
        return spec

    def _status_dict(self) -> Obj:
        status: Obj = {"phase": self._phase}
        if self._end is not None:
            status["endTime"] = self._end
        if self._reason is not None:
            status["endReason"] = self._reason
        status.update(self._status)
        return status

    def __getitem__(self, key: str) -> Any:
        if key == "metadata":
            return self._metadata()
        if key == "spec":
            return self._spec_dict()
        if key == "status":
            return self._status_dict()
        if key == SUMMARY:
            return True
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter((SUMMARY, "metadata", "spec", "status"))

    def __len__(self) -> int:
        return 4

    def __repr__(self) -> str:
        return f"RunSummary({dict(self)!r})"


def _pairs(part: Obj, keys: tuple[str, ...]) -> tuple[tuple[str, Any], ...]:
    return tuple((k, part[k]) for k in keys if k in part)


def summarize_ended(run: Obj) -> Obj:
    """An ended Run as the cache keeps it: what pruning, dedupe, admission and webhooks read of it.

    Ended Runs are most of a long-lived cluster's Runs (100,000 of them held whole were most of a
    restarting operator's memory). A Run that may still act (a batch resume asked for, a webhook
    still to deliver) is kept whole. The summary reads like a dict through `[]` and `.get` (all the
    cache's readers use), hence the cast.
    """
    status = run.get("status") or {}
    if not is_terminal(status.get("phase")) or resume_wanted(run) or undelivered(run):
        return run
    return cast(Obj, RunSummary(run["metadata"], run.get("spec") or {}, status))


def is_summary(run: Mapping[str, Any]) -> bool:
    return isinstance(run, RunSummary)


def _task_of_run(obj: RawRun) -> str | None:
    return obj.get("spec", {}).get("taskRef", {}).get("name")


class Store:
    def __init__(self) -> None:
        self.tasks: Kind[RawTask] = Kind()
        self.runs: Kind[RawRun] = Kind(index=_task_of_run)
        self.jobs: Kind[RawJob] = Kind(index=_label(names.LABEL_RUN))
        self.pods: Kind[RawPod] = Kind(index=_label(names.LABEL_JOB_NAME))
        self.revisions: Kind[RawRevision] = Kind(index=_label(names.LABEL_TASK))
        self.agents: Kind[RawAgent] = Kind()
        # Only ConfigMaps owned by a Run (batch inputs, index maps), without their data values.
        self.configmaps: Kind[RawConfigMap] = Kind()

    def runs_of_task(self, namespace: str, task_name: str) -> list[RawRun]:
        return self.runs.by_label(namespace, task_name)

    def revisions_of_task(self, namespace: str, task_name: str) -> list[RawRevision]:
        return self.revisions.by_label(namespace, task_name)

    def pods_of_job(self, namespace: str, job_name: str) -> list[RawPod]:
        return self.pods.by_label(namespace, job_name)
