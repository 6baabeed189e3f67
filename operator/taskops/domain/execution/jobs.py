"""Build the Kubernetes Job of one attempt of a Run (a pure function; the operator sends it)."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

import orjson

from taskops import API_VERSION
from taskops.domain.execution import batch, batchparams
from taskops.domain.resources import names
from taskops.domain.resources.agent import JobDefaults
from taskops.domain.resources.overrides import ENV_PREFIX
from taskops.domain.resources.paramenv import env_name, env_value
from taskops.domain.resources.run import Run
from taskops.domain.resources.task import BatchSpec, Task


def owner_reference(api_version: str, kind: str, name: str, uid: str) -> dict[str, Any]:
    return {
        "apiVersion": api_version,
        "kind": kind,
        "name": name,
        "uid": uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def task_owner(task: Task) -> dict[str, Any]:
    """The owner reference to `task` that its Runs and versions carry (deleted with it)."""
    return owner_reference(API_VERSION, "Task", task.metadata.name, task.metadata.uid or "")


PARAMS_ANNOTATION = "taskops.dev/params"
PARAMS_VOLUME = "taskops-params"
PARAMS_DIR = "/etc/taskops"
# A batch pod's own params (batchparams.py): the init container writes them into this emptyDir, mounted at
# PARAMS_DIR in the pod's containers; the Run's own params file (PARAMS_VOLUME) is mounted in the init container.
ELEMENT_VOLUME = "taskops-input-params"
RUN_PARAMS_DIR = "/etc/taskops-run"
INIT_CONTAINER = "taskops-input"
# params.json and params.env: an input under 900 kB, the Run's params (an annotation, under 256 KiB), twice.
ELEMENT_VOLUME_SIZE = "4Mi"
# The image's own user (Dockerfile); the init container runs as it whatever the Task's pod says.
INIT_USER = 10001


@dataclass(frozen=True)
class BatchPods:
    """How batch pods get their own input as their params (docs/batch.md): the init container's image (the
    operator's own, `--batch-init-image`) and whether the cluster has the EnvFiles feature (`--batch-env-files`:
    the TASKOPS_PARAM_* env vars read the file the init container writes)."""

    image: str
    env_files: bool = False


def _env(run: Run, attempt: int, params: dict[str, Any], overrides: dict[str, Any]) -> list[dict[str, str]]:
    env = [
        {"name": "TASKOPS_TASK", "value": run.spec.task_ref.name},
        {"name": "TASKOPS_RUN", "value": run.name},
        {"name": "TASKOPS_ATTEMPT", "value": str(attempt)},
        {"name": "TASKOPS_PARAMS_FILE", "value": f"{PARAMS_DIR}/params.json"},
    ]
    # Values travel as data (env values, a file), never spliced into a command line.
    env += [{"name": env_name(k), "value": env_value(v)} for k, v in sorted(params.items())]
    env += [{"name": env_name(k, ENV_PREFIX), "value": env_value(v)} for k, v in sorted(overrides.items())]
    return env


def _copy(doc: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of a JSON document: through orjson, 40 times faster than `copy.deepcopy` (which was a sixth of
    the operator's CPU with 5,000 Tasks spread over the minute: a Job is built for every Run made ahead). A value
    orjson cannot write (an integer past 64 bits, nesting past 255 levels: a Task read by kopf's json) is copied
    the slow way."""
    try:
        out: dict[str, Any] = orjson.loads(orjson.dumps(doc))
    except (TypeError, orjson.JSONEncodeError):
        return copy.deepcopy(doc)
    return out


def build_job(
    task: Task,
    run: Run,
    attempt: int,
    params: dict[str, Any] | None = None,
    overrides: dict[str, Any] | None = None,
    defaults: JobDefaults | None = None,
    indexes: list[int] | None = None,
    batch_pods: BatchPods | None = None,
) -> dict[str, Any]:
    """The Job for `attempt` of `run`: the Task's template, owned by the Run, retries left to taskops.

    Params reach every container as `TASKOPS_PARAM_<NAME>` variables (overrides: `TASKOPS_OVERRIDE_<NAME>`) and
    as one JSON file,
    `/etc/taskops/params.json`, projected from a pod annotation by the downward API. A batch run's pods (with
    `batch_pods`) get their own input there instead (`_input_params`).
    """
    params = params or {}
    # A batch pod's params are its input's: the Run's own as literal env vars could contradict them.
    own_input = run.spec.inputs is not None and batch_pods is not None
    literal = {} if own_input else params
    template = task.spec.payload
    spec: dict[str, Any] = _copy(template.spec)
    meta: dict[str, Any] = _copy(template.metadata or {})
    labels = {
        **(meta.get("labels") or {}),
        names.LABEL_TASK: task.metadata.name,
        names.LABEL_RUN: run.name,
        names.LABEL_ATTEMPT: str(attempt),
        names.LABEL_MANAGED_BY: names.MANAGED_BY,
    }
    # taskops decides about retries itself, with its own backoff: the Job must never retry a pod.
    spec["backoffLimit"] = 0
    pod_template = spec.setdefault("template", {})
    pod_meta = pod_template.setdefault("metadata", {})
    pod_meta["labels"] = {
        **(pod_meta.get("labels") or {}),
        **{k: labels[k] for k in (names.LABEL_TASK, names.LABEL_RUN, names.LABEL_ATTEMPT)},
    }
    payload = {"params": params, "overrides": overrides or {}}
    pod_meta["annotations"] = {
        **(pod_meta.get("annotations") or {}),
        PARAMS_ANNOTATION: json.dumps(payload, sort_keys=True),
    }
    pod_spec = pod_template.setdefault("spec", {})
    pod_spec.setdefault("restartPolicy", "Never")
    pod_spec["volumes"] = [
        *(pod_spec.get("volumes") or []),
        {
            "name": PARAMS_VOLUME,
            "downwardAPI": {
                "items": [
                    {"path": "params.json", "fieldRef": {"fieldPath": f"metadata.annotations['{PARAMS_ANNOTATION}']"}}
                ]
            },
        },
    ]
    for container in pod_spec.get("containers") or []:
        container["env"] = [*(container.get("env") or []), *_env(run, attempt, literal, overrides or {})]
        container["volumeMounts"] = [
            *(container.get("volumeMounts") or []),
            {"name": PARAMS_VOLUME, "mountPath": PARAMS_DIR, "readOnly": True},
        ]
    if defaults is not None:
        if defaults.service_account_name:
            pod_spec["serviceAccountName"] = defaults.service_account_name
        if defaults.node_selector:
            pod_spec["nodeSelector"] = {**(pod_spec.get("nodeSelector") or {}), **defaults.node_selector}
        if defaults.tolerations:
            pod_spec["tolerations"] = [*(pod_spec.get("tolerations") or []), *defaults.tolerations]
    timeout = run.spec.timeout_seconds or task.spec.timeout_seconds
    if timeout:
        spec["activeDeadlineSeconds"] = timeout
    if run.spec.inputs is not None:
        _make_indexed(spec, task, run, attempt, indexes)
        if batch_pods is not None:
            _input_params(spec["template"]["spec"], task, run, params, batch_pods, indexes is not None)
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": names.job_name(run.name, attempt),
            "namespace": run.namespace,
            "labels": labels,
            "annotations": meta.get("annotations") or {},
            "ownerReferences": [owner_reference(API_VERSION, "Run", run.name, run.metadata.uid or "")],
        },
        "spec": spec,
    }


def _make_indexed(spec: dict[str, Any], task: Task, run: Run, attempt: int, indexes: list[int] | None) -> None:
    """A batch run's attempt: an Indexed Job over all inputs, or (a resume) over `indexes` via an index map."""
    inputs = run.spec.inputs
    assert inputs is not None
    settings = task.spec.batch or BatchSpec()
    completions = inputs.count if indexes is None else len(indexes)
    # Per-index retries replace the Job-level limit (which then defaults to "unlimited").
    spec.pop("backoffLimit", None)
    spec["completionMode"] = "Indexed"
    spec["completions"] = completions
    spec["parallelism"] = min(settings.parallelism, completions)
    spec["backoffLimitPerIndex"] = settings.backoff_limit_per_index
    if settings.max_failed_indexes is not None:
        spec["maxFailedIndexes"] = settings.max_failed_indexes
    else:
        spec.pop("maxFailedIndexes", None)
    sources: list[dict[str, Any]] = [
        {"configMap": {"name": name, "items": [{"key": batch.INPUTS_KEY, "path": batchparams.chunk_file(k)}]}}
        for k, name in enumerate(inputs.config_maps)
    ]
    env = _batch_env(run, indexes is not None)
    if indexes is not None:
        name = batch.index_map_name(run.name, attempt)
        sources.append(
            {"configMap": {"name": name, "items": [{"key": batch.INDEX_MAP_KEY, "path": batch.INDEX_MAP_KEY}]}}
        )
    pod_spec = spec["template"]["spec"]
    pod_spec["volumes"] = [
        *(pod_spec.get("volumes") or []),
        {"name": batch.INPUTS_VOLUME, "projected": {"sources": sources}},
    ]
    for container in pod_spec.get("containers") or []:
        container["env"] = [*(container.get("env") or []), *env]
        container["volumeMounts"] = [
            *(container.get("volumeMounts") or []),
            {"name": batch.INPUTS_VOLUME, "mountPath": batch.INPUTS_DIR, "readOnly": True},
        ]


def _batch_env(run: Run, resume: bool) -> list[dict[str, str]]:
    """What tells a batch pod where its input is (docs/batch.md, "The Job of an attempt")."""
    inputs = run.spec.inputs
    assert inputs is not None
    env = [
        {"name": "TASKOPS_INPUTS_DIR", "value": batch.INPUTS_DIR},
        {"name": "TASKOPS_CHUNK_SIZE", "value": str(inputs.chunk_size)},
        {"name": "TASKOPS_INPUT_COUNT", "value": str(inputs.count)},
    ]
    if resume:
        env.append({"name": "TASKOPS_INDEX_MAP", "value": batch.INDEX_MAP_PATH})
    return env


def _file_env(name: str) -> dict[str, Any]:
    # optional: an absent key (a param the input leaves out, a value the file cannot carry) leaves the var unset.
    ref = {"volumeName": ELEMENT_VOLUME, "path": batchparams.ENV_FILE, "key": name, "optional": True}
    return {"name": name, "valueFrom": {"fileKeyRef": ref}}


def _input_params(
    pod_spec: dict[str, Any], task: Task, run: Run, params: dict[str, Any], pods: BatchPods, resume: bool
) -> None:
    """Each pod's own input as its params: an init container writes params.json (and params.env) into an emptyDir
    mounted at PARAMS_DIR in place of the Run's params file, which only the init container reads."""
    init = {
        "name": INIT_CONTAINER,
        "image": pods.image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["python", "-m", "taskops.batchinit"],
        "env": [
            *_batch_env(run, resume),
            {"name": "TASKOPS_RUN_PARAMS_FILE", "value": f"{RUN_PARAMS_DIR}/params.json"},
            {"name": "TASKOPS_PARAMS_DIR", "value": PARAMS_DIR},
        ],
        "volumeMounts": [
            {"name": batch.INPUTS_VOLUME, "mountPath": batch.INPUTS_DIR, "readOnly": True},
            {"name": PARAMS_VOLUME, "mountPath": RUN_PARAMS_DIR, "readOnly": True},
            {"name": ELEMENT_VOLUME, "mountPath": PARAMS_DIR},
        ],
        # One small Python process reading one chunk: the pod's request is the larger of this and its containers'.
        "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "64Mi"}},
        # The same hardening as taskops' own pods (charts/taskops), whatever the Task's pod allows.
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": INIT_USER,
            "runAsGroup": INIT_USER,
            "readOnlyRootFilesystem": True,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        # A bad chunk's one-line message becomes the input's recorded result.
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    pod_spec["initContainers"] = [init, *(pod_spec.get("initContainers") or [])]
    pod_spec["volumes"].append({"name": ELEMENT_VOLUME, "emptyDir": {"sizeLimit": ELEMENT_VOLUME_SIZE}})
    names = sorted({env_name(p.name) for p in task.spec.params or []} | {env_name(k) for k in params})
    file_env = [_file_env(n) for n in [batchparams.INDEX_KEY, *names]] if pods.env_files else []
    for container in pod_spec.get("containers") or []:
        for mount in container["volumeMounts"]:
            if mount["name"] == PARAMS_VOLUME and mount["mountPath"] == PARAMS_DIR:
                mount["name"] = ELEMENT_VOLUME
        container["env"] = [*container["env"], *file_env]
