"""A batch run of real pods: each reads exactly its own input from the mounted chunks (docs/batch.md's shell
one-liner), some fail, the Run ends PARTIAL_SUCCEEDED, and a resume reruns only those."""

from __future__ import annotations

import json

from devcluster.cluster import Cluster
from taskops.domain.execution import batch, batchresults
from tests import builders
from tests.integration.kube import Kube
from tests.integration.processes import OperatorProcess
from tests.realnode.conftest import real_task

ENDED = {"SUCCEEDED", "FAILED", "STOPPED", "INVALID", "PARTIAL_SUCCEEDED"}
COUNT = 200
FAILING = [3, 17, 18, 120, 199]
# docs/batch.md, "Reading one's input", verbatim; then the input back as the result, and a failure on the
# first attempt for the inputs marked so.
SCRIPT = r"""
i=${TASKOPS_INDEX_MAP:+$(sed -n "$((JOB_COMPLETION_INDEX+1))p" "$TASKOPS_INDEX_MAP")}; i=${i:-$JOB_COMPLETION_INDEX}
input=$(sed -n "$((i % TASKOPS_CHUNK_SIZE + 1))p" "$TASKOPS_INPUTS_DIR/chunk-$(printf %05d $((i / TASKOPS_CHUNK_SIZE))).jsonl")
printf '{"i":%s,"input":%s}' "$i" "$input" > /dev/termination-log
case "$input" in *'"fail":true'*) [ "$TASKOPS_ATTEMPT" = 1 ] && exit 1;; esac
exit 0
"""  # noqa: E501 -- the documented one-liner, verbatim


def test_a_batch_of_real_pods_partially_succeeds_then_resumes_only_the_failed(
    cluster: Cluster, kube: Kube, operator: OperatorProcess, ns: str
) -> None:
    kube.create(ns, real_task("b", SCRIPT, batch={"parallelism": 20}))
    values = [{"n": i, "fail": i in FAILING} for i in range(COUNT)]
    # Small chunks, so that the Job mounts several ConfigMaps.
    size, texts = batch.plan_chunks(values, max_bytes=2000)
    assert len(texts) >= 3
    names = batch.chunk_names("b-1", len(texts))
    created = kube.create(ns, builders.run("b-1", "b", inputs={"count": COUNT, "chunkSize": size, "configMaps": names}))
    for cm in batch.chunk_config_maps("b-1", created["metadata"]["uid"], ns, texts):
        kube.core.create_namespaced_config_map(ns, cm)

    run = kube.wait_run_phase(ns, "b-1", ENDED, timeout=900)
    status = run["status"]
    assert (status["phase"], status["endReason"]) == ("PARTIAL_SUCCEEDED", "partial_success"), status.get("message")
    assert status["batch"]["failedIndexes"] == "3,17-18,120,199"
    assert (status["batch"]["succeeded"], status["batch"]["failed"]) == (COUNT - len(FAILING), len(FAILING))
    chunks = kube.core.list_namespaced_config_map(ns, label_selector="taskops.dev/run=b-1,taskops.dev/contents=results")
    entries = batchresults.merge(c.data for c in chunks.items)
    assert len(entries) == COUNT
    # Every pod read exactly its own input: its result names its index and carries that input.
    for i, entry in entries.items():
        assert entry["result"] == {"i": i, "input": values[i]}, (i, entry)
    assert sorted(i for i, e in entries.items() if e["status"] == "failed") == FAILING

    cluster.kubectl("patch", "run", "b-1", "-n", ns, "--type=merge", "-p", json.dumps({"spec": {"resume": 1}}))
    run = kube.wait_run_phase(ns, "b-1", {"SUCCEEDED"}, timeout=180)
    assert run["status"]["batch"]["succeeded"] == COUNT and run["status"]["batch"]["resumes"] == 1
    job2 = kube.batch.read_namespaced_job("b-1-2", ns)
    assert job2.spec.completions == len(FAILING)
    # The resume's pods, through the index map, read the original inputs of the failed indexes.
    chunks = kube.core.list_namespaced_config_map(ns, label_selector="taskops.dev/run=b-1,taskops.dev/contents=results")
    entries = batchresults.merge(c.data for c in chunks.items)
    for i in FAILING:
        assert entries[i]["status"] == "succeeded" and entries[i]["attempt"] == 2, entries[i]
        assert entries[i]["result"] == {"i": i, "input": values[i]}
