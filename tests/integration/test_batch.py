"""Batch runs on the real control plane: inputs in ConfigMaps, one Indexed Job per attempt, resume."""

from __future__ import annotations

import json
from typing import Any

from devcluster import taskops_image
from devcluster.cluster import Cluster
from taskops.domain.execution import batch, batchresults
from tests import builders
from tests.integration.api import Caller, make_task
from tests.integration.kube import Kube, wait_for
from tests.integration.processes import OperatorProcess
from tests.integration.receiver import Receiver

ENDED = {"SUCCEEDED", "FAILED", "STOPPED", "INVALID", "PARTIAL_SUCCEEDED"}
COUNT = 1000
FAILING = [3, 17, 18, 19, 20, 500, 999]


def status_of(kube: Kube, ns: str, name: str) -> dict[str, Any]:
    return kube.run(ns, name).get("status") or {}


def test_batch_partial_success_then_resume_only_the_failed(
    kube: Kube, operator: OperatorProcess, ns: str, cluster: Cluster
) -> None:
    kube.create(
        ns,
        builders.task(
            "b",
            batch={"parallelism": 100},
            params=[{"name": "n", "type": "integer", "required": True}],
            pod_annotations={
                "kwok.taskops.dev/fail-indexes": ",".join(map(str, FAILING)),
                "kwok.taskops.dev/fail-attempts": "1",
                "kwok.taskops.dev/duration": "100ms",
            },
        ),
    )
    # Small chunks, so that the Job mounts several ConfigMaps.
    size, texts = batch.plan_chunks([{"n": i} for i in range(COUNT)], max_bytes=4000)
    assert len(texts) == 3
    names = batch.chunk_names("b-1", len(texts))
    created = kube.create(ns, builders.run("b-1", "b", inputs={"count": COUNT, "chunkSize": size, "configMaps": names}))

    # No chunk yet: the Run waits (and makes no Job).
    waiting = wait_for(
        lambda: (s := status_of(kube, ns, "b-1")).get("message") == "waiting for 3 input chunks" and s,
        what="the run to wait for its chunks",
    )
    assert waiting["phase"] == "CREATED"
    assert kube.jobs(ns) == []

    for cm in batch.chunk_config_maps("b-1", created["metadata"]["uid"], ns, texts):
        kube.core.create_namespaced_config_map(ns, cm)

    run = kube.wait_run_phase(ns, "b-1", ENDED, timeout=150)
    status = run["status"]
    assert (status["phase"], status["endReason"]) == ("PARTIAL_SUCCEEDED", "partial_success"), status.get("message")
    assert status["batch"]["failedIndexes"] == "3,17-20,500,999"
    assert (status["batch"]["succeeded"], status["batch"]["failed"], status["batch"]["total"]) == (993, 7, COUNT)
    assert status["batch"]["results"]["recorded"] == f"0-{COUNT - 1}"
    chunks = kube.core.list_namespaced_config_map(ns, label_selector="taskops.dev/run=b-1,taskops.dev/contents=results")
    entries = batchresults.merge(c.data for c in chunks.items)
    assert sorted(i for i, e in entries.items() if e["status"] == "failed") == FAILING
    assert len(entries) == COUNT and len(chunks.items) == status["batch"]["results"]["configMaps"]

    job = kube.batch.read_namespaced_job("b-1-1", ns)
    assert job.spec.completion_mode == "Indexed"
    assert (job.spec.completions, job.spec.parallelism, job.spec.backoff_limit_per_index) == (COUNT, 100, 0)
    volume = next(v for v in job.spec.template.spec.volumes if v.name == batch.INPUTS_VOLUME)
    assert [s.config_map.name for s in volume.projected.sources] == names
    env = {e.name: e.value for e in job.spec.template.spec.containers[0].env}
    assert env["TASKOPS_INPUTS_DIR"] == "/etc/taskops-inputs"
    assert (env["TASKOPS_CHUNK_SIZE"], env["TASKOPS_INPUT_COUNT"]) == (str(size), str(COUNT))
    assert "TASKOPS_INDEX_MAP" not in env
    # Each pod's own input is its params (docs/batch.md): an init container of the operator's image writes them
    # into an emptyDir mounted at /etc/taskops, and the env vars read its env file (the cluster has EnvFiles).
    pod_spec = job.spec.template.spec
    init = pod_spec.init_containers[0]
    assert (init.name, init.image, init.command) == (
        "taskops-input",
        taskops_image.NAME,
        ["python", "-m", "taskops.batchinit"],
    )
    assert init.security_context.read_only_root_filesystem and init.security_context.run_as_non_root
    params_volume = next(v for v in pod_spec.volumes if v.name == "taskops-input-params")
    assert params_volume.empty_dir is not None
    main = pod_spec.containers[0]
    assert any(m.name == "taskops-input-params" and m.mount_path == "/etc/taskops" for m in main.volume_mounts)
    refs = {e.name: e.value_from.file_key_ref for e in main.env if e.value_from and e.value_from.file_key_ref}
    assert sorted(refs) == ["TASKOPS_INPUT_INDEX", "TASKOPS_PARAM_N"]
    ref = refs["TASKOPS_PARAM_N"]
    assert (ref.volume_name, ref.path, ref.key, ref.optional) == (
        "taskops-input-params",
        "params.env",
        "TASKOPS_PARAM_N",
        True,
    )

    # Resume: only the 7 failed inputs run again, as attempt 2.
    cluster.kubectl("patch", "run", "b-1", "-n", ns, "--type=merge", "-p", json.dumps({"spec": {"resume": 1}}))
    run = kube.wait_run_phase(ns, "b-1", {"SUCCEEDED"}, timeout=60)
    status = run["status"]
    assert status["attempt"] == 2 and status["jobName"] == "b-1-2"
    assert status["batch"]["succeeded"] == COUNT and status["batch"]["failed"] == 0
    assert status["batch"]["failedIndexes"] == "" or "failedIndexes" not in status["batch"]
    assert status["batch"]["resumes"] == 1
    job2 = kube.batch.read_namespaced_job("b-1-2", ns)
    assert job2.spec.completions == len(FAILING)
    env = {e.name: e.value for e in job2.spec.template.spec.containers[0].env}
    assert env["TASKOPS_INDEX_MAP"] == "/etc/taskops-inputs/index-map.txt"
    index_map = kube.core.read_namespaced_config_map("b-1-index-map-2", ns)
    assert index_map.data["index-map.txt"].split() == [str(i) for i in FAILING]
    assert index_map.metadata.owner_references[0].name == "b-1"


def test_a_run_without_its_chunks_waits(kube: Kube, operator: OperatorProcess, ns: str) -> None:
    kube.create(ns, builders.task("w"))
    kube.create(
        ns,
        builders.run("w-1", "w", inputs={"count": 5, "chunkSize": 3, "configMaps": ["w-1-inputs-0", "w-1-inputs-1"]}),
    )
    status = wait_for(
        lambda: (s := status_of(kube, ns, "w-1")).get("message") == "waiting for 2 input chunks" and s,
        what="the run to wait for its chunks",
    )
    assert status["phase"] == "CREATED"
    assert kube.jobs(ns) == []


def test_the_api_accepts_a_batch_and_resumes_it(kube: Kube, api: Caller, ns: str) -> None:
    make_task(
        api,
        "api-batch",
        pods={
            "kwok.taskops.dev/fail-indexes": "2,40",
            "kwok.taskops.dev/fail-attempts": "1",
            "kwok.taskops.dev/duration": "100ms",
            "kwok.taskops.dev/index-message": "true",
        },
        batch={"parallelism": 20},
    )
    inputs = [{"order": f"ORD-{i}"} for i in range(60)]
    receiver = Receiver()
    hook = {"callback_url": receiver.url("/batch")}
    resp = api.post("/api/v1/actions/api-batch/async", json={"inputs": inputs, **hook})
    assert resp.status_code == 201, resp.text
    run = resp.json()
    spec = kube.run(ns, run["id"])["spec"]
    assert spec["inputs"]["count"] == 60 and "params" not in spec
    # The inputs are in ConfigMaps owned by the Run, never in the Run itself.
    assert spec["inputs"]["configMaps"], "no input ConfigMaps"
    for name in spec["inputs"]["configMaps"]:
        cm = kube.core.read_namespaced_config_map(name, ns)
        assert cm.metadata.owner_references[0].uid == run["uid"]
    ended = kube.wait_run_phase(ns, run["id"], ENDED, timeout=120)
    assert ended["status"]["phase"] == "PARTIAL_SUCCEEDED" and ended["status"]["batch"]["failedIndexes"] == "2,40"
    assert api.get(f"/api/v1/runs/{run['id']}").json()["batch"]["succeeded"] == 58
    wait_for(lambda: receiver.to("/batch"), what="the webhook of the first end")
    # Every input's outcome and termination message is recorded by the time the run ends.
    failed = api.get(f"/api/v1/runs/{run['id']}/results", params={"status": "failed"}).json()
    assert [(e["index"], e["attempt"], e["exit_code"]) for e in failed["items"]] == [(2, 1, 1), (40, 1, 1)]
    assert failed["items"][0]["result"] == {"error": "input at completion index 2 failed"}
    assert (failed["total"], failed["inputs"]) == (2, 60)

    resumed = api.post(f"/api/v1/runs/{run['id']}/resume")
    assert resumed.status_code == 202, resumed.text
    assert api.post(f"/api/v1/runs/{run['id']}/resume").status_code == 202  # asked once, not twice
    wait_for(lambda: status_of(kube, ns, run["id"]).get("phase") == "SUCCEEDED", 120, what="the resumed batch")
    assert status_of(kube, ns, run["id"])["batch"]["succeeded"] == 60
    assert sorted(j.metadata.name for j in kube.jobs(ns)) == [f"{run['id']}-1", f"{run['id']}-2"]
    # The results after the resume, read a page at a time: the two rerun inputs have attempt 2's outcome
    # (the resume's Job ran them as its completion indexes 0 and 1).
    items: list[dict[str, Any]] = []
    for offset in range(0, 60, 25):
        page = api.get(f"/api/v1/runs/{run['id']}/results", params={"limit": 25, "offset": offset}).json()
        assert page["total"] == 60 and page["offset"] == offset
        items += page["items"]
    assert [e["index"] for e in items] == list(range(60)) and {e["status"] for e in items} == {"succeeded"}
    assert items[2]["result"] == {"completionIndex": 0, "attempt": 2} and items[2]["attempt"] == 2
    assert items[40]["result"] == {"completionIndex": 1, "attempt": 2}
    assert items[7]["result"] == {"completionIndex": 7, "attempt": 1} and items[7]["attempt"] == 1
    chunks = kube.core.list_namespaced_config_map(ns, label_selector="taskops.dev/contents=results").items
    assert [c.metadata.name for c in chunks] == [f"{run['id']}-results-0"]
    assert chunks[0].metadata.owner_references[0].uid == run["uid"]
    # The resumed run's end is news of its own: a second delivery, under its own delivery id.
    wait_for(lambda: len({r.headers["X-Taskops-Delivery"] for r in receiver.to("/batch")}) == 2, what="2nd webhook")
    assert {r.headers["X-Taskops-Delivery"] for r in receiver.to("/batch")} == {run["uid"], f"{run['uid']}.1"}
    receiver.stop()

    single = api.post("/api/v1/actions/api-batch/async", json={"input": {}}).json()
    assert api.get(f"/api/v1/runs/{single['id']}/results").status_code == 409
    assert api.get(f"/api/v1/runs/{run['id']}/results", params={"status": "odd"}).status_code == 422

    live = api.post("/api/v1/actions/api-batch/live", json={"inputs": inputs})
    assert live.status_code == 422 and live.json()["errors"][0]["location"] == "body.inputs"
    too_big = api.post("/api/v1/actions/api-batch/async", json={"inputs": ["x" * 950_000]})
    assert too_big.status_code == 422 and "fit in a chunk" in too_big.json()["detail"]


def test_a_batch_that_cannot_start_fails_at_once(kube: Kube, operator: OperatorProcess, ns: str) -> None:
    kube.create(ns, builders.task("bad", pod_annotations={"kwok.taskops.dev/waiting-reason": "ErrImagePull"}))
    size, texts = batch.plan_chunks(list(range(5)))
    created = kube.create(
        ns, builders.run("bad-1", "bad", inputs={"count": 5, "chunkSize": size, "configMaps": ["bad-1-inputs-0"]})
    )
    for cm in batch.chunk_config_maps("bad-1", created["metadata"]["uid"], ns, texts):
        kube.core.create_namespaced_config_map(ns, cm)
    run = kube.wait_run_phase(ns, "bad-1", ENDED, timeout=60)
    assert (run["status"]["phase"], run["status"]["endReason"]) == ("FAILED", "start_failed")
    assert "ErrImagePull" in run["status"]["message"]
    wait_for(lambda: not kube.jobs(ns), what="the stuck Job to be deleted")


def test_a_second_resume_while_the_first_runs_is_the_same_resume(kube: Kube, api: Caller, ns: str) -> None:
    # The resumed attempt runs for seconds, so the second request comes after the operator took the first up.
    make_task(
        api,
        "slow-resume",
        pods={
            "kwok.taskops.dev/fail-indexes": "1",
            "kwok.taskops.dev/fail-attempts": "1",
            "kwok.taskops.dev/duration": "4s",
        },
        batch={"parallelism": 3},
    )
    run = api.post("/api/v1/actions/slow-resume/async", json={"inputs": [{"n": i} for i in range(3)]}).json()
    assert kube.wait_run_phase(ns, run["id"], ENDED, timeout=120)["status"]["phase"] == "PARTIAL_SUCCEEDED"
    assert api.post(f"/api/v1/runs/{run['id']}/resume").status_code == 202
    wait_for(lambda: (status_of(kube, ns, run["id"]).get("batch") or {}).get("resumes") == 1, 60, what="taken up")
    assert status_of(kube, ns, run["id"])["phase"] not in ENDED, "the resumed attempt ended before the second ask"
    again = api.post(f"/api/v1/runs/{run['id']}/resume")
    assert again.status_code == 202, again.text
    assert kube.run(ns, run["id"])["spec"]["resume"] == 1
    assert kube.wait_run_phase(ns, run["id"], ENDED, timeout=120)["status"]["phase"] == "SUCCEEDED"
    assert sorted(j.metadata.name for j in kube.jobs(ns)) == [f"{run['id']}-1", f"{run['id']}-2"]
