"""Every Job ever created in a namespace, seen through a watch: a Job deleted and created again is two Jobs.

Listing Jobs at the end would miss a duplicate the operator deleted (or one
garbage-collected with its Run); the watch records each ADDED uid as it
happens, and reconnects from its last resourceVersion across API server
restarts (relisting when that version has been compacted away).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from kubernetes import watch
from kubernetes.client.exceptions import ApiException

from tests.integration.kube import Kube

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


class JobWatch:
    def __init__(self, kube: Kube, namespace: str) -> None:
        self.kube = kube
        self.namespace = namespace
        self.jobs: dict[str, SeenJob] = {}
        self.reconnects = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._watch: watch.Watch | None = None
        self._thread = threading.Thread(target=self._loop, name="job-watch", daemon=True)

    def start(self) -> JobWatch:
        self._resource_version = self._relist()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._watch is not None:
            self._watch.stop()  # type: ignore[no-untyped-call]
        self._thread.join(timeout=15)

    def _record(self, job: Any, deleted: bool = False) -> None:
        meta = job.metadata
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
            seen.ended = seen.ended or _ended(job)
            if deleted and seen.ended is None:
                # Deleted before it finished: it held its slot until then, as far as anyone can tell.
                seen.ended = dt.datetime.now(dt.UTC)

    def _relist(self) -> str:
        listed = self.kube.batch.list_namespaced_job(self.namespace)
        for job in listed.items:
            self._record(job)
        return str(listed.metadata.resource_version if listed.metadata else "")

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._watch = watch.Watch()  # type: ignore[no-untyped-call]
            try:
                for event in self._watch.stream(  # type: ignore[no-untyped-call]
                    self.kube.batch.list_namespaced_job,
                    self.namespace,
                    resource_version=self._resource_version,
                    timeout_seconds=60,
                ):
                    job = event["object"]
                    self._record(job, deleted=event["type"] == "DELETED")
                    self._resource_version = job.metadata.resource_version
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

    # -- what was seen ---------------------------------------------------------------

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
        extra_attempt = sum(len(uids) - 1 for uids in per_attempt.values())
        extra_name = sum(len(uids) - 1 for uids in per_name.values())
        return max(extra_attempt, extra_name)
