"""A batch pod's own input as its params: the extraction (domain/execution/batchparams.py), the init container's
entry point (taskops/batchinit.py) on real files, and the Job template that runs it (jobs.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from taskops import batchinit
from taskops.domain.execution import batch, batchparams
from taskops.domain.execution.batchparams import BadInput
from taskops.domain.execution.jobs import ELEMENT_VOLUME, INIT_CONTAINER, PARAMS_DIR, PARAMS_VOLUME, BatchPods
from tests.unit.decisions import batch_run, batch_task, decide_batch

# --- the input index ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("completion", "count", "index_map", "expected"),
    [
        (0, 1, None, 0),
        (24, 25, None, 24),
        (0, 25, "3\n17\n20\n", 3),
        (2, 25, "3\n17\n20\n", 20),
        (1, 25, "3\n17\n20", 17),  # a last line without its newline
        (25, 25, None, "outside the 25 inputs"),
        (-1, 25, None, "negative"),
        (3, 25, "3\n17\n20\n", "the index map has 3 lines"),
        (0, 25, "x\n", "line 1 is not an index: 'x'"),
        (0, 25, "30\n", "input index 30 is outside"),
    ],
)
def test_original_index(completion: int, count: int, index_map: str | None, expected: int | str) -> None:
    if isinstance(expected, int):
        assert batchparams.original_index(completion, count, index_map) == expected
    else:
        with pytest.raises(BadInput, match=expected):
            batchparams.original_index(completion, count, index_map)


@pytest.mark.parametrize(
    ("index", "size", "expected"),
    [(0, 10, (0, 0)), (9, 10, (0, 9)), (10, 10, (1, 0)), (24, 10, (2, 4)), (5, 1, (5, 0))],
)
def test_chunk_boundaries(index: int, size: int, expected: tuple[int, int]) -> None:
    assert batchparams.locate(index, size) == expected


def test_a_zero_chunk_size_is_refused() -> None:
    with pytest.raises(BadInput, match="TASKOPS_CHUNK_SIZE 0"):
        batchparams.locate(3, 0)


# --- a chunk's line ----------------------------------------------------------------------------

CHUNK = '{"n":0}\n{"n":1}\n"text"\n'


@pytest.mark.parametrize(
    ("text", "line", "expected"),
    [
        (CHUNK, 0, {"n": 0}),
        (CHUNK, 1, {"n": 1}),
        (CHUNK, 2, "text"),
        ("7\n", 0, 7),
        (CHUNK, 3, BadInput("has 3 complete lines; this input is line 4")),
        ('{"n":0}\n{"n":1}', 1, BadInput("has 1 complete lines; this input is line 2")),  # cut short
        ("", 0, BadInput("has 0 complete lines")),
        ('{"n":0}\n{"n":\n', 1, BadInput("line 2 is not JSON")),
        ("\n", 0, BadInput("line 1 is not JSON")),
    ],
)
def test_chunk_element(text: str, line: int, expected: Any) -> None:
    if isinstance(expected, BadInput):
        with pytest.raises(BadInput, match=str(expected)):
            batchparams.chunk_element(text, line, "chunk-00000.jsonl")
    else:
        assert batchparams.chunk_element(text, line, "chunk-00000.jsonl") == expected


def test_a_line_past_the_input_size_is_refused_before_parsing() -> None:
    text = '"' + "x" * batchparams.MAX_CHUNK_BYTES + '"\n'
    with pytest.raises(BadInput, match="line 1 is 900002 bytes; an input is under 900000"):
        batchparams.chunk_element(text, 0, "chunk-00000.jsonl")


def test_every_line_of_planned_chunks_reads_back() -> None:
    values = [{"n": i, "s": "a\nb#c"} for i in range(25)]
    size, texts = batch.plan_chunks(values, max_bytes=200)
    for i, value in enumerate(values):
        k, line = batchparams.locate(i, size)
        assert batchparams.chunk_element(texts[k], line, batchparams.chunk_file(k)) == value


# --- the params file and the env file -----------------------------------------------------------

RUN = {"params": {"region": "eu", "limit": 5}, "overrides": {"model": "m"}}


@pytest.mark.parametrize(
    ("element", "expected"),
    [
        # The input's params win; what it leaves out keeps the Run's own value.
        (
            {"orderId": "A-1", "limit": 9},
            {"params": {"region": "eu", "limit": 9, "orderId": "A-1"}, "overrides": {"model": "m"}, "index": 4},
        ),
        ({}, {"params": {"region": "eu", "limit": 5}, "overrides": {"model": "m"}, "index": 4}),
        # Not an object (a Task without a params schema): the value itself, beside the Run's params.
        (
            [1, 2],
            {"params": {"region": "eu", "limit": 5}, "overrides": {"model": "m"}, "index": 4, "input": [1, 2]},
        ),
        ("s", {"params": {"region": "eu", "limit": 5}, "overrides": {"model": "m"}, "index": 4, "input": "s"}),
    ],
)
def test_element_params(element: Any, expected: dict[str, Any]) -> None:
    assert batchparams.element_params(RUN, element, 4) == expected
    assert RUN["params"] == {"region": "eu", "limit": 5}  # not changed


def test_the_env_file_carries_what_an_env_var_can_hold_exactly() -> None:
    params = {
        "s": "plain text # with a hash",
        "n": 3,
        "b": True,
        "o": {"a": [1, "x y"]},
        "multi": "two\nlines",
        "padded": " x",
        "cont": "ends with \\",
        "empty": "",
        "nul": "a\x00b",
        "big": "x" * (batchparams.MAX_ENV_VALUE_BYTES + 1),
        "fits": "y" * batchparams.MAX_ENV_VALUE_BYTES,
        "odd-name": "v",
    }
    text, left_out = batchparams.env_file({"params": params, "index": 17})
    assert text.splitlines() == [
        "TASKOPS_INPUT_INDEX=17",
        "TASKOPS_PARAM_B=true",
        "TASKOPS_PARAM_FITS=" + "y" * batchparams.MAX_ENV_VALUE_BYTES,
        "TASKOPS_PARAM_N=3",
        'TASKOPS_PARAM_O={"a": [1, "x y"]}',
        "TASKOPS_PARAM_ODD_NAME=v",
        "TASKOPS_PARAM_S=plain text # with a hash",
    ]
    assert left_out == ["big", "cont", "empty", "multi", "nul", "padded"]


# --- the init container's entry point, on files --------------------------------------------------


def _pod_files(tmp_path: Path, values: list[Any], size: int, index_map: str | None = None) -> dict[str, str]:
    _, texts = batch.plan_chunks(values, max_bytes=size * 40)
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    for k, text in enumerate(texts):
        (inputs / batchparams.chunk_file(k)).write_text(text)
    (tmp_path / "run.json").write_text(json.dumps(RUN))
    (tmp_path / "out").mkdir()
    env = {
        "TASKOPS_INPUTS_DIR": str(inputs),
        "TASKOPS_CHUNK_SIZE": str(len(texts[0].splitlines())),
        "TASKOPS_INPUT_COUNT": str(len(values)),
        "TASKOPS_RUN_PARAMS_FILE": str(tmp_path / "run.json"),
        "TASKOPS_PARAMS_DIR": str(tmp_path / "out"),
    }
    if index_map is not None:
        (inputs / "index-map.txt").write_text(index_map)
        env["TASKOPS_INDEX_MAP"] = str(inputs / "index-map.txt")
    return env


@pytest.mark.parametrize(("completion", "index_map", "index"), [(0, None, 0), (13, None, 13), (1, "2\n13\n", 13)])
def test_the_entry_point_writes_the_pods_own_params(
    tmp_path: Path, completion: int, index_map: str | None, index: int
) -> None:
    values = [{"orderId": f"A-{i}", "limit": i} for i in range(20)]
    env = _pod_files(tmp_path, values, 6, index_map)
    assert batchinit.run({**env, "JOB_COMPLETION_INDEX": str(completion)}) == []
    written = json.loads((tmp_path / "out" / batchparams.PARAMS_FILE).read_text())
    assert written == {"params": {"region": "eu", **values[index]}, "overrides": {"model": "m"}, "index": index}
    env_text = (tmp_path / "out" / batchparams.ENV_FILE).read_text()
    assert f"TASKOPS_PARAM_ORDERID=A-{index}\n" in env_text and f"TASKOPS_INPUT_INDEX={index}\n" in env_text
    assert not list((tmp_path / "out").glob(".*.tmp"))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"JOB_COMPLETION_INDEX": "20"}, "input index 20 is outside the 20 inputs"),
        ({"JOB_COMPLETION_INDEX": "x"}, "JOB_COMPLETION_INDEX is not an integer: 'x'"),
        ({"JOB_COMPLETION_INDEX": None}, "JOB_COMPLETION_INDEX is not set"),
        ({"TASKOPS_INPUTS_DIR": None}, "'TASKOPS_INPUTS_DIR' is not set"),
        ({"TASKOPS_INPUTS_DIR": "/nonexistent"}, "cannot read chunk /nonexistent/chunk-00000.jsonl"),
    ],
)
def test_the_entry_point_exits_2_with_one_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    change: dict[str, str | None],
    message: str,
) -> None:
    env = {**_pod_files(tmp_path, [{"n": i} for i in range(20)], 6), "JOB_COMPLETION_INDEX": "0", **change}
    for name in list(batchinit.os.environ):
        if name.startswith(("TASKOPS_", "JOB_COMPLETION")):
            monkeypatch.delenv(name)
    for name, value in env.items():
        if value is not None:
            monkeypatch.setenv(name, value)
    monkeypatch.setattr(batchinit, "TERMINATION_LOG", tmp_path / "termination-log")
    assert batchinit.main() == 2
    err = capsys.readouterr().err
    assert err.startswith("taskops batch input: ") and message in err and err.count("\n") == 1
    assert (tmp_path / "termination-log").read_text() == err.strip()


def test_a_bad_chunk_line_is_named(tmp_path: Path) -> None:
    env = _pod_files(tmp_path, [{"n": i} for i in range(4)], 2)
    (Path(env["TASKOPS_INPUTS_DIR"]) / "chunk-00000.jsonl").write_text('{"n":0}\nnot json\n')
    with pytest.raises(BadInput, match=r"chunk-00000.jsonl line 2 is not JSON"):
        batchinit.run({**env, "JOB_COMPLETION_INDEX": "1"})


def test_a_chunk_larger_than_a_configmap_is_not_read(tmp_path: Path) -> None:
    env = _pod_files(tmp_path, [{"n": i} for i in range(4)], 2)
    (Path(env["TASKOPS_INPUTS_DIR"]) / "chunk-00000.jsonl").write_text("1\n" * (batchparams.MAX_FILE_BYTES // 2 + 1))
    with pytest.raises(BadInput, match="is larger than 1048576 bytes"):
        batchinit.run({**env, "JOB_COMPLETION_INDEX": "0"})


# --- the Job template ------------------------------------------------------------------------------


def _pod(batch_pods: BatchPods | None) -> dict[str, Any]:
    task = batch_task(
        params=[
            {"name": "orderId", "type": "string", "required": True},
            {"name": "limit", "type": "integer", "default": 5},
        ]
    )
    run = batch_run()
    d = decide_batch(run, task, batch_pods=batch_pods)
    assert d.create_job is not None
    pod: dict[str, Any] = d.create_job["spec"]["template"]["spec"]
    return pod


def test_a_batch_pod_gets_an_init_container_an_emptydir_and_env_from_its_file() -> None:
    pod = _pod(BatchPods("registry.example/taskops:1.2.3", env_files=True))
    init = pod["initContainers"][0]
    assert (init["name"], init["image"], init["command"]) == (
        INIT_CONTAINER,
        "registry.example/taskops:1.2.3",
        ["python", "-m", "taskops.batchinit"],
    )
    assert init["securityContext"]["readOnlyRootFilesystem"] and init["securityContext"]["runAsNonRoot"]
    assert init["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert init["resources"]["limits"] == {"memory": "64Mi"}
    init_env = {e["name"]: e["value"] for e in init["env"]}
    assert init_env["TASKOPS_PARAMS_DIR"] == PARAMS_DIR and init_env["TASKOPS_CHUNK_SIZE"] == "10"
    assert {m["name"]: m["mountPath"] for m in init["volumeMounts"]} == {
        batch.INPUTS_VOLUME: batch.INPUTS_DIR,
        PARAMS_VOLUME: "/etc/taskops-run",
        ELEMENT_VOLUME: PARAMS_DIR,
    }
    assert {"name": ELEMENT_VOLUME, "emptyDir": {"sizeLimit": "4Mi"}} in pod["volumes"]
    main = pod["containers"][0]
    # The container reads its input's params where every run reads its params, read-only.
    assert {"name": ELEMENT_VOLUME, "mountPath": PARAMS_DIR, "readOnly": True} in main["volumeMounts"]
    assert not any(m["name"] == PARAMS_VOLUME for m in main["volumeMounts"])
    refs = {e["name"]: e["valueFrom"]["fileKeyRef"] for e in main["env"] if "valueFrom" in e}
    assert sorted(refs) == ["TASKOPS_INPUT_INDEX", "TASKOPS_PARAM_LIMIT", "TASKOPS_PARAM_ORDERID"]
    assert refs["TASKOPS_PARAM_ORDERID"] == {
        "volumeName": ELEMENT_VOLUME,
        "path": "params.env",
        "key": "TASKOPS_PARAM_ORDERID",
        "optional": True,
    }
    # No literal params: the Run's own (its defaults) could contradict the input's.
    assert not any(e["name"].startswith("TASKOPS_PARAM_") and "value" in e for e in main["env"])
    # Programs that read their chunk themselves still can.
    assert {e["name"] for e in main["env"]} >= {"TASKOPS_INPUTS_DIR", "TASKOPS_CHUNK_SIZE", "TASKOPS_INPUT_COUNT"}


def test_without_env_files_the_params_file_only() -> None:
    pod = _pod(BatchPods("taskops:1"))
    assert pod["initContainers"][0]["name"] == INIT_CONTAINER
    assert not any(e["name"].startswith(("TASKOPS_PARAM_", "TASKOPS_INPUT_INDEX")) for e in pod["containers"][0]["env"])


def test_without_an_init_image_the_pods_read_their_chunks_and_the_run_says_so() -> None:
    pod = _pod(None)
    assert "initContainers" not in pod
    main = pod["containers"][0]
    assert {"name": PARAMS_VOLUME, "mountPath": PARAMS_DIR, "readOnly": True} in main["volumeMounts"]
    assert {"name": "TASKOPS_PARAM_LIMIT", "value": "5"} in main["env"]
    d = decide_batch(batch_run(), batch_task())
    assert [(e.type, e.reason) for e in d.events] == [("Warning", "NoBatchInitImage")]
    with_image = decide_batch(batch_run(), batch_task(), batch_pods=BatchPods("taskops:1"))
    assert with_image.events == []
