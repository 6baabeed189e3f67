"""Batch runs: chunking, names, index ranges, and the decide() paths of a Run with spec.inputs.

Mainly domain/execution/batch.py; also covers decide.py's batch paths (domain/execution/decide_batch.py).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from taskops.domain.execution import batch, batchparams
from taskops.domain.resources.phases import EndReason, Phase
from tests import builders
from tests.builders import T0
from tests.unit.decisions import BATCH_RUNNING, CHUNKS, LATER, batch_run, batch_task, decide_batch, partial_status

# --- chunking and names -------------------------------------------------------------


json_values = st.text(max_size=60) | st.integers() | st.dictionaries(st.text(max_size=5), st.integers())


@given(st.lists(json_values, min_size=1, max_size=200), st.integers(min_value=2000, max_value=8000))
def test_chunks_stay_under_the_limit_and_keep_every_value_in_order(values: list[Any], max_bytes: int) -> None:
    size, texts = batch.plan_chunks(values, max_bytes)
    assert all(len(t.encode()) <= max_bytes for t in texts)
    lines = [line for t in texts for line in t.split("\n")[:-1]]
    assert [json.loads(line) for line in lines] == values
    # Fixed chunk size: chunk k holds inputs k*size ... k*size+size-1.
    assert all(t.count("\n") == size for t in texts[:-1])
    assert 1 <= texts[-1].count("\n") <= size
    assert batch.chunk_inputs(values, max_bytes) == texts


def test_chunking_rejects_what_cannot_fit() -> None:
    with pytest.raises(ValueError, match="at least one"):
        batch.plan_chunks([])
    with pytest.raises(ValueError, match="bytes as JSON"):
        batch.plan_chunks(["x" * 100], max_bytes=50)
    with pytest.raises(ValueError, match="at most 100000"):
        batch.plan_chunks([0] * 100_001)


def test_a_thousand_small_inputs_fit_one_chunk() -> None:
    size, texts = batch.plan_chunks([{"n": i} for i in range(1000)])
    assert (size, len(texts)) == (1000, 1)


def test_chunk_and_index_map_names() -> None:
    assert batch.chunk_names("r", 3) == ["r-inputs-0", "r-inputs-1", "r-inputs-2"]
    assert batch.index_map_name("r", 2) == "r-index-map-2"
    long = "a" * 250
    names = batch.chunk_names(long, 12)
    assert all(len(n) <= 253 for n in names) and len(set(names)) == 12
    assert names[11].endswith("-inputs-11")
    assert batchparams.chunk_file(7) == "chunk-00007.jsonl"


def test_chunk_config_maps_are_owned_by_the_run() -> None:
    cms = batch.chunk_config_maps("r", "uid-1", "ns", ["1\n", "2\n"])
    assert [c["metadata"]["name"] for c in cms] == ["r-inputs-0", "r-inputs-1"]
    assert cms[1]["data"] == {"inputs.jsonl": "2\n"}
    ref = cms[0]["metadata"]["ownerReferences"][0]
    assert (ref["kind"], ref["name"], ref["uid"]) == ("Run", "r", "uid-1")


# --- index ranges ---------------------------------------------------------------------


def test_ranges_examples() -> None:
    assert batch.format_ranges([20, 3, 17, 18, 19, 3]) == "3,17-20"
    assert batch.parse_ranges("3,17-20") == [3, 17, 18, 19, 20]
    assert batch.parse_ranges("") == [] and batch.parse_ranges(None) == []
    assert batch.format_ranges([]) == ""
    assert batch.merge_ranges("1-3", "2-5,9", None) == "1-5,9"
    with pytest.raises(ValueError):
        batch.parse_ranges("5-2")


index_sets = st.sets(st.integers(min_value=0, max_value=2000), max_size=200)


@given(index_sets)
def test_format_then_parse_is_identity(indexes: set[int]) -> None:
    text = batch.format_ranges(indexes)
    assert batch.parse_ranges(text) == sorted(indexes)
    # Compact: no two parts are adjacent or overlapping.
    assert batch.format_ranges(batch.parse_ranges(text)) == text


@given(index_sets, index_sets)
def test_merge_is_the_union(a: set[int], b: set[int]) -> None:
    merged = batch.merge_ranges(batch.format_ranges(a), batch.format_ranges(b))
    assert batch.parse_ranges(merged) == sorted(a | b)


def test_resume_wanted_reads_the_raw_run() -> None:
    raw = {"spec": {"inputs": {"count": 1}, "resume": 1}, "status": {"batch": {"resumes": 0}}}
    assert batch.resume_wanted(raw)
    raw["status"]["batch"]["resumes"] = 1
    assert not batch.resume_wanted(raw)
    assert not batch.resume_wanted({"spec": {"resume": 3}})


# --- decide() ----------------------------------------------------------------------------


def test_a_run_waits_for_its_chunks() -> None:
    d = decide_batch(batch_run(), batch_task(), chunks=["r-inputs-1"])
    assert d.status is not None and d.create_job is None
    assert d.status.phase == Phase.CREATED
    assert d.status.message == "waiting for 2 input chunks"
    assert d.requeue_after == pytest.approx(300)


def test_a_waiting_run_is_not_rewritten_until_something_changes() -> None:
    first = decide_batch(batch_run(), batch_task(), chunks=[])
    assert first.status is not None
    waiting = batch_run(first.status.to_k8s())
    later = T0 + dt.timedelta(seconds=10)
    again = decide_batch(waiting, batch_task(), now=later, chunks=[])
    assert again.status is None and again.requeue_after == pytest.approx(290)


def test_chunks_missing_after_300s_make_the_run_invalid() -> None:
    d = decide_batch(batch_run(), batch_task(), now=T0 + dt.timedelta(seconds=300), chunks=["r-inputs-0"])
    assert d.status is not None and d.create_job is None
    assert (d.status.phase, d.status.end_reason) == (Phase.INVALID, EndReason.INVALID)
    assert d.status.message is not None and "r-inputs-1, r-inputs-2" in d.status.message


def test_a_wrong_number_of_chunks_is_invalid() -> None:
    run = batch_run(count=35)
    d = decide_batch(run, batch_task())
    assert d.status is not None and d.status.phase == Phase.INVALID
    assert "need 4" in (d.status.message or "")


def test_all_chunks_there_starts_one_indexed_job() -> None:
    task = batch_task(batch={"parallelism": 100, "backoffLimitPerIndex": 2, "maxFailedIndexes": 5})
    d = decide_batch(batch_run(), task)
    assert d.status is not None and d.create_job is not None and d.create_config_maps == []
    assert d.status.phase == Phase.RUNNING and d.status.batch is not None and d.status.batch.total == 25
    spec = d.create_job["spec"]
    assert d.create_job["metadata"]["name"] == "r-1"
    assert spec["completionMode"] == "Indexed"
    assert (spec["completions"], spec["parallelism"], spec["backoffLimitPerIndex"], spec["maxFailedIndexes"]) == (
        25,
        25,
        2,
        5,
    )
    assert "backoffLimit" not in spec
    pod = spec["template"]["spec"]
    volume = next(v for v in pod["volumes"] if v["name"] == batch.INPUTS_VOLUME)
    sources = volume["projected"]["sources"]
    assert [s["configMap"]["name"] for s in sources] == CHUNKS
    assert sources[2]["configMap"]["items"] == [{"key": "inputs.jsonl", "path": "chunk-00002.jsonl"}]
    container = pod["containers"][0]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["TASKOPS_INPUTS_DIR"] == "/etc/taskops-inputs"
    assert (env["TASKOPS_CHUNK_SIZE"], env["TASKOPS_INPUT_COUNT"]) == ("10", "25")
    assert "TASKOPS_INDEX_MAP" not in env
    mount = next(m for m in container["volumeMounts"] if m["name"] == batch.INPUTS_VOLUME)
    assert mount == {"name": batch.INPUTS_VOLUME, "mountPath": "/etc/taskops-inputs", "readOnly": True}


def test_default_batch_settings() -> None:
    d = decide_batch(batch_run(count=25), batch_task())
    assert d.create_job is not None
    spec = d.create_job["spec"]
    assert (spec["parallelism"], spec["backoffLimitPerIndex"]) == (10, 0) and "maxFailedIndexes" not in spec


def test_progress_is_mirrored_in_range_form_and_only_written_when_it_changes() -> None:
    run = batch_run(BATCH_RUNNING)
    d = decide_batch(run, batch_task(), builders.indexed_job(completed="0-9,12", failed="3,11", active=4))
    assert d.status is not None and d.status.batch is not None
    b = d.status.batch
    assert (b.succeeded, b.failed, b.running) == (11, 1, 4)
    assert (b.completed_indexes, b.failed_indexes) == ("0-9,12", "11")
    same = batch_run({**BATCH_RUNNING, "batch": b.to_k8s()})
    assert decide_batch(same, batch_task(), builders.indexed_job(completed="0-9,12", failed="3,11", active=4)).empty


@pytest.mark.parametrize(
    ("completed", "failed", "ended", "phase", "reason"),
    [
        ("0-24", "", "Complete", Phase.SUCCEEDED, EndReason.SUCCESS),
        ("0-2,4-24", "3", "Failed", Phase.PARTIAL_SUCCEEDED, EndReason.PARTIAL_SUCCESS),
        ("", "0-24", "Failed", Phase.FAILED, EndReason.FAILED),
    ],
)
def test_end_phases(completed: str, failed: str, ended: str, phase: Phase, reason: EndReason) -> None:
    d = decide_batch(
        batch_run(BATCH_RUNNING),
        batch_task(),
        builders.indexed_job(completed=completed, failed=failed, ended=ended),
        now=LATER,
    )
    assert d.status is not None
    assert (d.status.phase, d.status.end_reason) == (phase, reason)
    # Never retried by the Run-level loop (maxRetries is 3 here).
    assert d.create_job is None and d.status.next_attempt_at is None
    assert d.status.batch is not None and d.status.batch.running == 0


def test_resume_runs_only_what_did_not_succeed() -> None:
    ended = partial_status()
    ended["webhook"] = {"state": "delivered", "url": "https://h/x", "deliveryId": "run-uid", "attempts": 1}
    assert decide_batch(batch_run(ended), batch_task()).empty, "resume 0: nothing to do"
    d = decide_batch(batch_run(ended, resume=1), batch_task(batch={"parallelism": 100}))
    assert d.status is not None and d.create_job is not None
    assert d.status.webhook is None, "the resumed run's end is announced again"
    assert (d.status.phase, d.status.attempt, d.status.job_name) == (Phase.RUNNING, 2, "r-2")
    assert d.status.end_reason is None and d.status.end_time is None
    assert d.status.batch is not None
    assert (d.status.batch.resumes, d.status.batch.attempt_indexes) == (1, "3,17-20")
    spec = d.create_job["spec"]
    assert (spec["completions"], spec["parallelism"]) == (5, 5)
    [cm] = d.create_config_maps
    assert cm["metadata"]["name"] == "r-index-map-2"
    assert cm["data"] == {"index-map.txt": "3\n17\n18\n19\n20\n"}
    assert cm["metadata"]["ownerReferences"][0]["uid"] == "run-uid"
    env = {e["name"]: e["value"] for e in spec["template"]["spec"]["containers"][0]["env"]}
    assert env["TASKOPS_INDEX_MAP"] == "/etc/taskops-inputs/index-map.txt"
    sources = next(v for v in spec["template"]["spec"]["volumes"] if v["name"] == batch.INPUTS_VOLUME)["projected"]
    assert sources["sources"][-1]["configMap"]["name"] == "r-index-map-2"

    # The resume attempt's indexes map back to the originals and merge.
    resumed = batch_run(d.status.to_k8s(), resume=1)
    progress = decide_batch(resumed, batch_task(), builders.indexed_job("r-2", completed="0-3", failed="4", active=0))
    assert progress.status is not None and progress.status.batch is not None
    assert progress.status.batch.completed_indexes == "0-19,21-24"
    assert progress.status.batch.failed_indexes == "20"
    done = decide_batch(
        resumed, batch_task(), builders.indexed_job("r-2", completed="0-4", ended="Complete"), now=LATER
    )
    assert done.status is not None and done.status.batch is not None
    assert (done.status.phase, done.status.batch.succeeded, done.status.batch.failed) == (Phase.SUCCEEDED, 25, 0)
    # A recreated Job (not yet in the cache) brings its index map again.
    again = decide_batch(resumed, batch_task(), None)
    assert again.create_job is not None and [c["metadata"]["name"] for c in again.create_config_maps] == [
        "r-index-map-2"
    ]


def test_no_resume_of_a_succeeded_or_stopped_on_request_run() -> None:
    d = decide_batch(
        batch_run(BATCH_RUNNING), batch_task(), builders.indexed_job(completed="0-24", ended="Complete"), now=LATER
    )
    assert d.status is not None
    assert decide_batch(batch_run(d.status.to_k8s(), resume=1), batch_task()).empty
    stopped = decide_batch(batch_run(BATCH_RUNNING, stop=True), batch_task())
    assert stopped.status is not None and stopped.status.phase == Phase.STOPPED
    assert decide_batch(batch_run(stopped.status.to_k8s(), resume=1, stop=True), batch_task()).empty
    resumed = decide_batch(batch_run(stopped.status.to_k8s(), resume=1), batch_task())
    assert resumed.create_job is not None and resumed.create_job["spec"]["completions"] == 25
