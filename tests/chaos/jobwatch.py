"""Every Job (or Run) ever created in a namespace, seen through a watch: one deleted and created again is two.

Listing at the end would miss a duplicate the operator deleted (or a Job
garbage-collected with its Run); the watch records each ADDED uid as it
happens, and reconnects from its last resourceVersion across API server
restarts (relisting when that version has been compacted away).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Self

from kubernetes import watch
from kubernetes.client.exceptions import ApiException

from tests.integration.kube import GROUP, VERSION, Kube
from tests.integration.timing import parse_time

LABEL_TASK, LABEL_RUN, LABEL_ATTEMPT = "taskops.dev/task", "taskops.dev/run", "taskops.dev/attempt"


@dataclass
class SeenJob:
    uid: str
    name: str
    task: str
    run: str
    attempt: str
    created: dt.datetime
    ended: dt.datetime | None = None


@dataclass
class SeenRun:
    uid: str
    name: str
    task: str
    # spec.scheduledTime: the fire a scheduled Run is for (None for a Run created by hand or the API).
    scheduled: dt.datetime | None
    deleted: bool = False


def _ended(job: Any) -> dt.datetime | None:
    status = job.status
    if status is None:
        return None
    if status.completion_time:
        return status.completion_time  # type: ignore[no-any-return]
    for cond in status.conditions or []:
        if cond.type == "Failed" and cond.status == "True":
            return cond.last_transition_time  # type: ignore[no-any-return]
    return None


def _extra(groups: dict[Any, set[str]]) -> int:
    """Objects beyond the first in each group."""
    return sum(len(uids) - 1 for uids in groups.values())


class _Watch:
    """The watch loop over `list_call(*list_args)`; a subclass's `_record` keeps what one object shows."""

    def __init__(self, name: str, list_call: Callable[..., Any], *list_args: Any) -> None:
        self._list_call, self._list_args = list_call, list_args
        self.reconnects = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._watch: watch.Watch | None = None
        self._resource_version = ""
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def _record(self, obj: Any, deleted: bool = False) -> None:
        raise NotImplementedError

    @staticmethod
    def _items(listed: Any) -> tuple[list[Any], str]:
        """A list answer's objects and resourceVersion."""
        if isinstance(listed, dict):  # custom objects come as plain dicts
            return listed["items"], str(listed["metadata"].get("resourceVersion") or "")
        return listed.items, str(listed.metadata.resource_version if listed.metadata else "")

    @staticmethod
    def _version(obj: Any) -> str:
        return str(obj["metadata"]["resourceVersion"] if isinstance(obj, dict) else obj.metadata.resource_version)

    def start(self) -> Self:
        self._resource_version = self._relist()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._watch is not None:
            self._watch.stop()  # type: ignore[no-untyped-call]
        self._thread.join(timeout=15)

    def _relist(self) -> str:
        items, version = self._items(self._list_call(*self._list_args))
        for obj in items:
            self._record(obj)
        return version

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._watch = watch.Watch()  # type: ignore[no-untyped-call]
            try:
                for event in self._watch.stream(  # type: ignore[no-untyped-call]
                    self._list_call, *self._list_args, resource_version=self._resource_version, timeout_seconds=60
                ):
                    obj = event["object"]
                    self._record(obj, deleted=event["type"] == "DELETED")
                    self._resource_version = self._version(obj)
                    if self._stop.is_set():
                        return
            except ApiException as e:
                self.reconnects += 1
                if e.status == 410:
                    self._resource_version = self._relist_retrying()
                else:
                    time.sleep(0.5)
            except Exception:  # the API server went away mid-stream: reconnect, as a controller would
                self.reconnects += 1
                time.sleep(0.5)

    def _relist_retrying(self) -> str:
        while not self._stop.is_set():
            try:
                return self._relist()
            except Exception:  # still restarting
                time.sleep(0.5)
        return self._resource_version


class JobWatch(_Watch):
    def __init__(self, kube: Kube, namespace: str) -> None:
        super().__init__("job-watch", kube.batch.list_namespaced_job, namespace)
        self.jobs: dict[str, SeenJob] = {}

    def _record(self, obj: Any, deleted: bool = False) -> None:
        meta = obj.metadata
        labels = meta.labels or {}
        with self._lock:
            seen = self.jobs.get(meta.uid)
            if seen is None:
                seen = SeenJob(
                    uid=meta.uid,
                    name=meta.name,
                    task=labels.get(LABEL_TASK, ""),
                    run=labels.get(LABEL_RUN, ""),
                    attempt=labels.get(LABEL_ATTEMPT, ""),
                    created=meta.creation_timestamp,
                )
                self.jobs[meta.uid] = seen
            seen.ended = seen.ended or _ended(obj)
            if deleted and seen.ended is None:
                # Deleted before it finished: it held its slot until then, as far as anyone can tell.
                seen.ended = dt.datetime.now(dt.UTC)

    def snapshot(self) -> list[SeenJob]:
        with self._lock:
            return list(self.jobs.values())

    def duplicates(self) -> int:
        """Jobs beyond the first for one (run, attempt), or for one Job name."""
        per_attempt: dict[tuple[str, str], set[str]] = defaultdict(set)
        per_name: dict[str, set[str]] = defaultdict(set)
        for job in self.snapshot():
            per_attempt[(job.run, job.attempt)].add(job.uid)
            per_name[job.name].add(job.uid)
        return max(_extra(per_attempt), _extra(per_name))


class RunWatch(_Watch):
    def __init__(self, kube: Kube, namespace: str) -> None:
        super().__init__("run-watch", kube.custom.list_namespaced_custom_object, GROUP, VERSION, namespace, "runs")
        self.runs: dict[str, SeenRun] = {}

    def _record(self, obj: Any, deleted: bool = False) -> None:
        meta, spec = obj["metadata"], obj.get("spec") or {}
        with self._lock:
            seen = self.runs.get(meta["uid"])
            if seen is None:
                scheduled = spec.get("scheduledTime")
                seen = SeenRun(
                    uid=meta["uid"],
                    name=meta["name"],
                    task=(spec.get("taskRef") or {}).get("name", ""),
                    scheduled=parse_time(scheduled) if scheduled else None,
                )
                self.runs[meta["uid"]] = seen
            seen.deleted = seen.deleted or deleted

    def snapshot(self) -> list[SeenRun]:
        with self._lock:
            return list(self.runs.values())

    def duplicates(self) -> int:
        """Runs beyond the first for one name, or for one (Task, fire time): a fire's Run deleted and made again,
        or made twice under two names."""
        per_name: dict[str, set[str]] = defaultdict(set)
        per_fire: dict[tuple[str, dt.datetime], set[str]] = defaultdict(set)
        for run in self.snapshot():
            per_name[run.name].add(run.uid)
            if run.scheduled is not None:
                per_fire[(run.task, run.scheduled)].add(run.uid)
        return max(_extra(per_name), _extra(per_fire))
