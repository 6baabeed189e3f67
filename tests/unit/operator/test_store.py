"""The operator's cache of raw objects (operator/store.py): resource versions, indexes, summaries of ended Runs."""

from __future__ import annotations

import json
from typing import Any

import pytest

from taskops.domain.execution.versions import ANNOTATION_HASH, from_revision
from taskops.domain.scheduling.history import finished
from taskops.operator.store import Store, is_summary, packed_revision, summarize_ended, without_managed_fields
from tests import builders


def run(name: str, rv: str, task: str = "t") -> dict[str, Any]:
    return builders.run(name, task, metadata={"namespace": "ns", "resourceVersion": rv})


def pod(name: str, rv: str, job: str) -> dict[str, Any]:
    return builders.pod(name=name, job_name=job, metadata={"resourceVersion": rv})


def test_older_resource_versions_never_replace_newer() -> None:
    store = Store()
    assert store.runs.put(run("r", "10"))
    assert not store.runs.put(run("r", "9"))
    assert store.runs.get(("ns", "r"))["metadata"]["resourceVersion"] == "10"  # type: ignore[index]


def test_indexes_follow_label_changes_and_deletes() -> None:
    store = Store()
    store.pods.put(pod("p1", "1", "j1"))
    store.pods.put(pod("p2", "1", "j1"))
    assert {p["metadata"]["name"] for p in store.pods_of_job("ns", "j1")} == {"p1", "p2"}
    store.pods.put(pod("p2", "2", "j2"))
    assert [p["metadata"]["name"] for p in store.pods_of_job("ns", "j1")] == ["p1"]
    store.pods.remove(pod("p1", "3", "j1"))
    assert store.pods_of_job("ns", "j1") == []
    store.runs.put(run("r1", "1"))
    assert [r["metadata"]["name"] for r in store.runs_of_task("ns", "t")] == ["r1"]


def test_ended_runs_are_kept_as_summaries_unless_they_may_still_act() -> None:
    ended = builders.run(
        "r",
        "t",
        metadata={
            "namespace": "ns",
            "uid": "u-1",
            "resourceVersion": "5",
            "creationTimestamp": "2026-01-01T00:00:00Z",
            "labels": {"taskops.dev/task": "t"},
        },
        status={
            "phase": "SUCCEEDED",
            "endTime": "2026-01-01T00:01:00Z",
            "endReason": "success",
            "agent": "gpu",
            "result": {"rows": "x" * 1000},
        },
        params={"x": 1},
        dedupeKey="k",
    )
    summary = summarize_ended(ended)
    assert is_summary(summary) and not is_summary(ended)
    assert summary["spec"] == {"taskRef": {"name": "t"}, "dedupeKey": "k"}
    assert summary["status"] == {
        "phase": "SUCCEEDED",
        "endTime": "2026-01-01T00:01:00Z",
        "endReason": "success",
        "agent": "gpu",
    }
    assert finished(summary) == finished(ended)
    store = Store()
    store.runs.put(summary)
    assert store.runs_of_task("ns", "t") == [summary]

    # Runs that may still act are kept whole: not ended, a batch resume asked for, a webhook to deliver.
    running = {**ended, "status": {"phase": "RUNNING"}}
    resume = {**ended, "spec": {**ended["spec"], "inputs": {"configMaps": ["c"]}, "resume": 1}}
    hook = {**ended, "spec": {**ended["spec"], "callbackUrl": "https://example.test/done"}}
    for whole in (running, resume, hook):
        assert summarize_ended(whole) is whole
    delivered = {**hook, "status": {**ended["status"], "webhook": {"state": "delivered"}}}
    assert is_summary(summarize_ended(delivered))
    assert summarize_ended(delivered)["status"]["webhook"] == {"state": "delivered"}


def test_without_managed_fields_copies_and_leaves_the_original() -> None:
    original: dict[str, Any] = {"metadata": {"name": "t", "managedFields": [{"manager": "kubectl"}]}, "spec": {}}
    lean = without_managed_fields(original)
    assert lean == {"metadata": {"name": "t"}, "spec": {}}
    assert original["metadata"]["managedFields"] == [{"manager": "kubectl"}]


def test_a_summary_reads_like_the_dict_it_replaces_and_is_not_one() -> None:
    ended = builders.run(
        "r",
        "t",
        metadata={"namespace": "ns", "resourceVersion": "7", "creationTimestamp": "2026-01-01T00:00:00Z"},
        status={"phase": "FAILED", "endTime": "2026-01-01T00:01:00Z", "endReason": "failed", "concurrencyKey": "k"},
    )
    summary = summarize_ended(ended)
    assert dict(summary) == {
        "taskops.dev/summary": True,
        "metadata": {
            "name": "r",
            "namespace": "ns",
            "resourceVersion": "7",
            "creationTimestamp": "2026-01-01T00:00:00Z",
        },
        "spec": {"taskRef": {"name": "t"}},
        "status": {
            "phase": "FAILED",
            "endTime": "2026-01-01T00:01:00Z",
            "endReason": "failed",
            "concurrencyKey": "k",
        },
    }
    assert summary.get("kind") is None and "status" in summary
    with pytest.raises(TypeError):
        json.dumps(summary)  # a summary is never written anywhere as if it were the Run


def test_a_cached_version_keeps_its_spec_as_json_bytes_and_reads_the_same() -> None:
    spec = {"scheduleKind": "cron", "scheduleExpr": "0 0 1 1 *", "payload": {"spec": {"template": {"spec": {}}}}}
    revision = builders.revision("t", 1, spec, metadata={"managedFields": [{}], "annotations": {ANNOTATION_HASH: "h"}})
    packed = packed_revision(revision)
    assert isinstance(packed["data"], bytes) and "managedFields" not in packed["metadata"]
    assert revision["data"] == {"spec": spec}  # the original is left as it was
    assert from_revision(packed) == from_revision(revision)
