"""In-memory caches of the objects the operator watches, filled from kopf's watch events."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

from taskops.domain import names

Key = tuple[str, str]  # (namespace, name)
Obj = dict[str, Any]

JOB_NAME_LABEL = "batch.kubernetes.io/job-name"


def key_of(obj: Obj) -> Key:
    meta = obj["metadata"]
    return meta.get("namespace") or "", meta["name"]


def _newer(new: Obj, old: Obj | None) -> bool:
    """Watch streams of different resources interleave, and our own writes land before their events."""
    if old is None:
        return True
    try:
        return int(new["metadata"]["resourceVersion"]) >= int(old["metadata"]["resourceVersion"])
    except (KeyError, ValueError):
        return True


class Kind:
    """One kind's objects by key, plus one secondary index (objects by a value derived from each)."""

    def __init__(self, index: Callable[[Obj], str | None] | None = None) -> None:
        self.objects: dict[Key, Obj] = {}
        self._index = index
        self._by_label: dict[Key, set[str]] = defaultdict(set)

    def get(self, key: Key) -> Obj | None:
        return self.objects.get(key)

    def put(self, obj: Obj) -> bool:
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

    def remove(self, obj: Obj) -> None:
        old = self.objects.pop(key_of(obj), None)
        self._unindex(old or obj)

    def _unindex(self, obj: Obj) -> None:
        key = key_of(obj)
        label = self._label(obj)
        if label:
            names_ = self._by_label.get((key[0], label))
            if names_ is not None:
                names_.discard(key[1])
                if not names_:
                    del self._by_label[(key[0], label)]

    def by_label(self, namespace: str, value: str) -> list[Obj]:
        return [o for n in self._by_label.get((namespace, value), ()) if (o := self.objects.get((namespace, n)))]

    def _label(self, obj: Obj) -> str | None:
        return self._index(obj) if self._index else None

    def __len__(self) -> int:
        return len(self.objects)


def _label(name: str) -> Callable[[Obj], str | None]:
    return lambda obj: (obj["metadata"].get("labels") or {}).get(name)


def run_owner(obj: Obj) -> str | None:
    """The name of the Run that owns this object, if one does."""
    for ref in obj["metadata"].get("ownerReferences") or []:
        if ref.get("kind") == "Run" and str(ref.get("apiVersion", "")).startswith("taskops.dev/"):
            name = ref.get("name")
            return str(name) if name else None
    return None


def without_data(obj: Obj) -> Obj:
    """A ConfigMap's metadata and data keys: input chunks can be large, the cache needs only their names."""
    return {**obj, "data": dict.fromkeys(obj.get("data") or {}, ""), "binaryData": None}


def _task_of_run(obj: Obj) -> str | None:
    return ((obj.get("spec") or {}).get("taskRef") or {}).get("name")


class Store:
    def __init__(self) -> None:
        self.tasks = Kind()
        self.runs = Kind(index=_task_of_run)
        self.jobs = Kind(index=_label(names.LABEL_RUN))
        self.pods = Kind(index=_label(JOB_NAME_LABEL))
        self.revisions = Kind(index=_label(names.LABEL_TASK))
        self.agents = Kind()
        # Only ConfigMaps owned by a Run (batch inputs, index maps), without their data values.
        self.configmaps = Kind()

    def runs_of_task(self, namespace: str, task_name: str) -> list[Obj]:
        return self.runs.by_label(namespace, task_name)

    def revisions_of_task(self, namespace: str, task_name: str) -> list[Obj]:
        return self.revisions.by_label(namespace, task_name)

    def pods_of_job(self, namespace: str, job_name: str) -> list[Obj]:
        return self.pods.by_label(namespace, job_name)
