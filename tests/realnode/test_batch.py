"""A batch run of real pods: each reads exactly its own input from the mounted chunks (docs/batch.md's shell
one-liner), some fail, the Run ends PARTIAL_SUCCEEDED, and a resume reruns only those. And each pod gets its own
input as its params (the init container of the taskops image, `python -m taskops.batchinit`): in its params file
and, with EnvFiles on (devcluster enables it; the operator runs with --batch-env-files), its env vars."""

from __future__ import annotations

import json

from devcluster.cluster import Cluster
from taskops.domain.execution import batch, batchparams, batchresults
from taskops.domain.resources.params import ParamSpec, validate_inputs
from tests import builders
from tests.integration.kube import Kube
from tests.integration.processes import OperatorProcess
from tests.realnode.realtasks import real_task

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
    cluster: Cluster, kube: Kube, operator: OperatorProcess, ns: str, taskops_image_name: str
) -> None:
    # Every batch pod's init container runs the taskops image: the node must have it (taskops_image_name).
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


# Each pod prints (and writes as its result) its env vars and its params file; an input marked `fail` fails on
# the first attempt, so that the resume's pods (renumbered, through the index map) are checked too.
PARAMS_SCRIPT = r"""
out=$(printf '{"env":{"orderId":"%s","qty":"%s","note":"%s","index":"%s"},"file":%s}' \
  "$TASKOPS_PARAM_ORDERID" "$TASKOPS_PARAM_QTY" "$TASKOPS_PARAM_NOTE" "$TASKOPS_INPUT_INDEX" \
  "$(cat "$TASKOPS_PARAMS_FILE")")
echo "$out"
printf '%s' "$out" > /dev/termination-log
[ "$TASKOPS_PARAM_FAIL" = true ] && [ "$TASKOPS_ATTEMPT" = 1 ] && exit 1
exit 0
"""
SCHEMA = [
    {"name": "orderId", "type": "string", "required": True},
    {"name": "qty", "type": "integer", "required": True},
    {"name": "note", "type": "string", "default": "none"},
    {"name": "fail", "type": "boolean", "default": False},
]
PARAMS_COUNT = 40
PARAMS_FAILING = [5, 21, 39]


def _raw_input(i: int) -> dict[str, object]:
    raw: dict[str, object] = {"orderId": f"A-{i} #{i}", "qty": i}
    if i % 4 == 1:
        raw["note"] = f"note {i}"
    if i % 4 == 2:
        raw["note"] = "  padded"  # an env var cannot carry its blanks exactly: the params file only
    if i in PARAMS_FAILING:
        raw["fail"] = True
    return raw


def test_each_real_pod_gets_its_own_input_as_env_vars_and_params_file(
    cluster: Cluster, kube: Kube, operator: OperatorProcess, ns: str, taskops_image_name: str
) -> None:
    kube.create(ns, real_task("p", PARAMS_SCRIPT, params=SCHEMA, batch={"parallelism": 20}))
    # What the API stores for `inputs` (docs/api.md): each element resolved like a live `input`.
    values, errors = validate_inputs(
        [ParamSpec.model_validate(p) for p in SCHEMA], [_raw_input(i) for i in range(PARAMS_COUNT)]
    )
    assert errors == []
    size, texts = batch.plan_chunks(values, max_bytes=800)
    assert len(texts) >= 3
    names = batch.chunk_names("p-1", len(texts))
    inputs = {"count": PARAMS_COUNT, "chunkSize": size, "configMaps": names}
    created = kube.create(ns, builders.run("p-1", "p", inputs=inputs))
    for cm in batch.chunk_config_maps("p-1", created["metadata"]["uid"], ns, texts):
        kube.core.create_namespaced_config_map(ns, cm)

    run = kube.wait_run_phase(ns, "p-1", ENDED, timeout=900)
    assert run["status"]["phase"] == "PARTIAL_SUCCEEDED", run["status"].get("message")
    assert run["status"]["batch"]["failedIndexes"] == "5,21,39"
    cluster.kubectl("patch", "run", "p-1", "-n", ns, "--type=merge", "-p", json.dumps({"spec": {"resume": 1}}))
    run = kube.wait_run_phase(ns, "p-1", {"SUCCEEDED"}, timeout=300)

    chunks = kube.core.list_namespaced_config_map(ns, label_selector="taskops.dev/run=p-1,taskops.dev/contents=results")
    entries = batchresults.merge(c.data for c in chunks.items)
    assert len(entries) == PARAMS_COUNT
    for i, entry in entries.items():
        params = values[i]
        assert entry["status"] == "succeeded" and entry["attempt"] == (2 if i in PARAMS_FAILING else 1), entry
        # The params file: exactly what a single run with this input sees, and the input's index.
        assert entry["result"]["file"] == {"params": params, "overrides": {}, "index": i}, (i, entry)
        note = params["note"] if batchparams.env_safe(params["note"]) else ""
        assert entry["result"]["env"] == {
            "orderId": f"A-{i} #{i}",
            "qty": str(i),
            "note": note,
            "index": str(i),
        }, (i, entry)
    # The log says it too (a pod's stdout), for one input.
    pod = next(
        p
        for p in kube.core.list_namespaced_pod(ns, label_selector="taskops.dev/run=p-1").items
        if p.metadata.annotations.get("batch.kubernetes.io/job-completion-index") == "7"
        and p.metadata.labels.get("taskops.dev/attempt") == "1"
    )
    # Raw bytes: the client would otherwise turn a JSON log into a Python repr.
    log = kube.core.read_namespaced_pod_log(pod.metadata.name, ns, container="main", _preload_content=False)
    assert json.loads(log.data.decode())["env"]["orderId"] == "A-7 #7"
