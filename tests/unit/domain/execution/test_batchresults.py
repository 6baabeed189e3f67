"""Per-input results of batch runs: reading pods, filling chunks, re-recording after a crash or a resume.

Mainly domain/execution/batchresults.py; also covers how api/views.py shows them.
"""

from __future__ import annotations

import datetime as dt
import json

from hypothesis import given
from hypothesis import strategies as st

from taskops.api import views
from taskops.domain.execution import batchresults as br
from taskops.domain.resources.phases import EndReason, Phase
from taskops.domain.resources.run import BatchResults
from tests import builders
from tests.builders import T0
from tests.unit.decisions import BATCH_RUNNING, LATER, batch_run, batch_task, decide_batch, partial_status

RUN = br.RunRef("r", "ns", "run-uid")
SECOND = dt.timedelta(seconds=1)


def test_pod_entries_read_messages_and_prefer_success_then_the_latest_failure() -> None:
    pods = [
        builders.pod(0, message='{"n": 0}', index=0),
        builders.pod(1, message="first", index=1, finished=T0 + SECOND),
        builders.pod(2, message="second", index=1, finished=T0 + 2 * SECOND),
        builders.pod(1, message="boom", index=2, finished=T0 + SECOND),
        builders.pod(0, message="plain text", index=2, finished=T0 + 3 * SECOND),
        builders.pod(index=3),
    ]
    entries = br.pod_entries(pods, None, attempt=1)
    assert set(entries) == {0, 1, 2}
    assert entries[0].result == {"n": 0} and entries[0].status == "succeeded"
    assert (entries[1].status, entries[1].result, entries[1].exit_code, entries[1].reason) == (
        "failed",
        "second",
        2,
        "Error",
    )
    assert (entries[2].status, entries[2].result) == ("succeeded", "plain text")


def test_pod_entries_map_a_resume_attempts_indexes_to_the_originals() -> None:
    entries = br.pod_entries([builders.pod(0, index=i) for i in (0, 1, 5)], own=[3, 17], attempt=2)
    assert sorted(entries) == [3, 17] and entries[17].attempt == 2


def entry(i: int, status: str = "succeeded", size: int = 0) -> br.Entry:
    return br.Entry(index=i, status=status, attempt=1, exit_code=0, result="x" * size or None)


def test_record_fills_chunks_in_order_and_says_where() -> None:
    entries = {i: entry(i, size=300) for i in range(10)}
    rec = br.record(RUN, None, range(10), [], entries, 1, missing_ok=False, max_bytes=1000)
    names = [cm["metadata"]["name"] for cm, _ in rec.writes]
    assert names == [f"r-results-{k}" for k in range(len(names))] and len(names) > 1
    assert all(new for _, new in rec.writes)
    assert all(len(json.dumps(cm["data"])) <= 1000 for cm, _ in rec.writes)
    cm = rec.writes[0][0]
    assert cm["metadata"]["labels"] == {"taskops.dev/run": "r", br.LABEL_CONTENTS: br.CONTENTS_RESULTS}
    assert cm["metadata"]["ownerReferences"][0]["uid"] == "run-uid"
    assert (rec.state.config_maps, rec.state.recorded, rec.pending) == (len(names), "0-9", 0)

    # More results later go to the last chunk while it has room: merged in, not created.
    more = br.record(RUN, rec.state, range(11), [], {10: entry(10)}, 1, missing_ok=False, max_bytes=1000)
    [(cm, new)] = more.writes
    assert (cm["metadata"]["name"], new) == (names[-1], False) and list(cm["data"]) == ["10"]
    assert more.state.recorded == "0-10"
    # Nothing new: nothing written.
    assert br.record(RUN, more.state, range(11), [], {}, 1, missing_ok=True).writes == []


def test_final_inputs_without_a_pod_wait_then_are_recorded_missing() -> None:
    rec = br.record(RUN, None, [0, 1], [2], {0: entry(0)}, 1, missing_ok=False)
    assert (rec.pending, rec.state.recorded) == (2, "0")
    late = br.record(RUN, rec.state, [0, 1], [2], {}, 1, missing_ok=True)
    data = late.writes[0][0]["data"]
    assert json.loads(data["1"]) == {"status": "succeeded", "attempt": 1, "missing": True}
    assert json.loads(data["2"])["status"] == "failed" and late.state.recorded == "0-2"


def test_a_pod_that_disagrees_with_the_job_is_an_older_one_and_waits() -> None:
    rec = br.record(RUN, None, [0], [], {0: entry(0, "failed")}, 1, missing_ok=False)
    assert rec.pending == 1 and rec.writes == []


def test_a_crash_before_the_status_write_records_the_same_entries_again() -> None:
    first = br.record(RUN, None, range(3), [], {i: entry(i) for i in range(3)}, 1, missing_ok=False)
    again = br.record(RUN, None, range(3), [], {i: entry(i) for i in range(3)}, 1, missing_ok=False)
    assert [(cm["metadata"]["name"], cm["data"]) for cm, _ in first.writes] == [
        (cm["metadata"]["name"], cm["data"]) for cm, _ in again.writes
    ]


def test_resume_forgets_what_it_reruns_and_readers_keep_the_latest_attempt() -> None:
    state = BatchResults(config_maps=1, open_bytes=10, recorded="0-9")
    assert br.forget(state, [3, 4]) == BatchResults(config_maps=1, open_bytes=10, recorded="0-2,5-9")
    old = {"3": json.dumps({"status": "failed", "attempt": 1}), "4": json.dumps({"status": "failed", "attempt": 1})}
    new = {"3": json.dumps({"status": "succeeded", "attempt": 2, "result": 1}), "junk": "x", "5": "{not json"}
    merged = br.merge([new, old])
    assert merged == {3: {"status": "succeeded", "attempt": 2, "result": 1}, 4: {"status": "failed", "attempt": 1}}


@given(st.dictionaries(st.integers(0, 500), st.sampled_from(["succeeded", "failed"]), max_size=80))
def test_pages_cover_every_entry_once_in_index_order(statuses: dict[int, str]) -> None:
    entries = {i: {"status": s, "attempt": 1} for i, s in statuses.items()}
    seen: list[int] = []
    offset = 0
    while True:
        page, total = views.input_results(entries, None, offset, 7)
        assert total == len(entries)
        if not page:
            break
        seen += [e.index for e in page]
        offset += 7
    assert seen == sorted(entries)
    failed, total = views.input_results(entries, "failed", 0, 1000)
    assert [e.index for e in failed] == sorted(i for i, s in statuses.items() if s == "failed") and total == len(failed)


# --- through decide() -----------------------------------------------------------------


def test_results_are_written_before_the_status_that_records_them() -> None:
    pods = [builders.pod(0, message=f'{{"i": {i}}}', index=i) for i in range(12)]
    d = decide_batch(
        batch_run(BATCH_RUNNING), batch_task(), builders.indexed_job(completed="0-11", active=3), pods=pods
    )
    assert d.status is not None and d.status.batch is not None and d.status.batch.results is not None
    assert d.status.batch.results.recorded == "0-11"
    [(cm, new)] = d.write_results
    assert new and json.loads(cm["data"]["11"]) == {
        "status": "succeeded",
        "attempt": 1,
        "exitCode": 0,
        "result": {"i": 11},
    }


def test_an_ended_job_ends_the_run_only_once_every_result_is_recorded() -> None:
    job = builders.indexed_job(completed="0-24", ended="Complete")
    early = decide_batch(
        batch_run(BATCH_RUNNING), batch_task(), job, pods=[builders.pod(0, index=i) for i in range(20)]
    )
    assert early.status is not None and early.status.phase == Phase.RUNNING
    assert early.requeue_after is not None and early.write_results
    ended = decide_batch(
        batch_run(early.status.to_k8s()),
        batch_task(),
        job,
        now=LATER,
        pods=[builders.pod(0, index=i) for i in range(20)],
    )
    assert ended.status is not None and ended.status.phase == Phase.SUCCEEDED
    assert ended.status.batch is not None and ended.status.batch.results is not None
    assert ended.status.batch.results.recorded == "0-24"
    [(cm, new)] = ended.write_results
    assert not new and sorted(map(int, cm["data"])) == [20, 21, 22, 23, 24]


def test_a_resume_records_its_inputs_again_under_the_new_attempt() -> None:
    ended = partial_status()
    assert ended["batch"]["results"]["recorded"] == "0-24"
    d = decide_batch(batch_run(ended, resume=1), batch_task())
    assert d.status is not None and d.status.batch is not None and d.status.batch.results is not None
    assert d.status.batch.results.recorded == "0-2,4-16,21-24"
    resumed = batch_run(d.status.to_k8s(), resume=1)
    done = decide_batch(
        resumed,
        batch_task(),
        builders.indexed_job("r-2", completed="0-4", ended="Complete"),
        pods=[builders.pod(0, index=i) for i in range(5)],
    )
    assert done.status is not None and done.status.phase == Phase.SUCCEEDED
    data = {k: json.loads(v) for cm, _ in done.write_results for k, v in cm["data"].items()}
    assert sorted(map(int, data)) == [3, 17, 18, 19, 20] and {e["attempt"] for e in data.values()} == {2}


def test_a_batch_whose_pods_cannot_start_ends_start_failed_without_waiting_for_its_deadline() -> None:
    job = builders.indexed_job(active=2)
    d = decide_batch(
        batch_run(BATCH_RUNNING),
        batch_task(),
        job,
        pods=[builders.pod(index=0, waiting="ErrImagePull"), builders.pod(index=1, waiting="ErrImagePull")],
    )
    assert d.status is not None and (d.status.phase, d.status.end_reason) == (Phase.FAILED, EndReason.START_FAILED)
    assert d.delete_job == "r-1" and "ErrImagePull" in (d.status.message or "")
    # One pod that starts, or one input that ended, and the attempt goes on.
    assert (
        decide_batch(
            batch_run(BATCH_RUNNING),
            batch_task(),
            job,
            pods=[builders.pod(index=0, waiting="ErrImagePull"), builders.pod(0, index=1)],
        ).delete_job
        is None
    )
    creating = decide_batch(
        batch_run(BATCH_RUNNING), batch_task(), job, pods=[builders.pod(index=0, waiting="ContainerCreating")]
    )
    assert creating.delete_job is None and creating.status is not None and creating.status.phase == Phase.RUNNING
