"""A batch pod's own input as its params (docs/batch.md, "Each pod's own params").

The init container of every batch pod (`python -m taskops.batchinit`) maps its completion index to the
original input index (through a resume attempt's index map), takes that input's line from its chunk, and
writes the params file (and an env file for `fileKeyRef` env vars) the pod's containers read: a batch pod sees
its input exactly as a single run with that input sees its params. Pure: the entry point reads and writes the
files. Standard library only, since it runs once per input.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from taskops.domain.resources.paramenv import env_name, env_value

# A chunk (and so a line) stays under this (batch.plan_chunks); a ConfigMap holds 1 MiB at most.
MAX_CHUNK_BYTES = 900_000
# Nothing the init container reads can be larger than a ConfigMap (or the pod annotation it is projected from).
MAX_FILE_BYTES = 1024 * 1024
PARAMS_FILE = "params.json"
ENV_FILE = "params.env"
# The original input index, in the env file (and so in the pod's env with fileKeyRef).
INDEX_KEY = "TASKOPS_INPUT_INDEX"
# The kubelet (1.34, EnvFiles alpha) refuses to start a container whose env-file value is longer.
MAX_ENV_VALUE_BYTES = 32 * 1024


class BadInput(ValueError):
    """The chunks, the index map or the index do not hold this pod's input (the message says where)."""


def chunk_file(k: int) -> str:
    """The file chunk `k` is projected to under INPUTS_DIR: chunk-00000.jsonl, chunk-00001.jsonl, ..."""
    return f"chunk-{k:05d}.jsonl"


def original_index(completion_index: int, count: int, index_map: str | None = None) -> int:
    """The input a pod works on: its completion index, or (a resume attempt) line index+1 of the index map."""
    if completion_index < 0:
        raise BadInput(f"JOB_COMPLETION_INDEX {completion_index} is negative")
    index = completion_index
    if index_map is not None:
        lines = index_map.split()
        if completion_index >= len(lines):
            raise BadInput(f"the index map has {len(lines)} lines; JOB_COMPLETION_INDEX {completion_index} has none")
        try:
            index = int(lines[completion_index])
        except ValueError:
            raise BadInput(
                f"the index map's line {completion_index + 1} is not an index: {lines[completion_index]!r}"
            ) from None
    if not 0 <= index < count:
        raise BadInput(f"input index {index} is outside the {count} inputs")
    return index


def locate(index: int, chunk_size: int) -> tuple[int, int]:
    """(chunk number, line in it from 0) of input `index`."""
    if chunk_size < 1:
        raise BadInput(f"TASKOPS_CHUNK_SIZE {chunk_size} must be at least 1")
    return divmod(index, chunk_size)


def chunk_element(text: str, line: int, name: str) -> Any:
    """The JSON value on line `line` (from 0) of chunk text `text` (its file `name`, for messages)."""
    start = 0
    for _ in range(line):
        newline = text.find("\n", start)
        if newline == -1:
            break
        start = newline + 1
    else:
        end = text.find("\n", start)
        if end != -1:
            return _parse(text[start:end], line, name)
    raise BadInput(f"{name} has {text.count(chr(10))} complete lines; this input is line {line + 1}")


def _parse(raw: str, line: int, name: str) -> Any:
    if len(raw.encode()) >= MAX_CHUNK_BYTES:
        raise BadInput(f"{name} line {line + 1} is {len(raw.encode())} bytes; an input is under {MAX_CHUNK_BYTES}")
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise BadInput(f"{name} line {line + 1} is not JSON: {exc}") from None


def element_params(run: Mapping[str, Any], element: Any, index: int) -> dict[str, Any]:
    """The params file of the pod of input `index`.

    `run` is what every attempt's pods get (`{"params": ..., "overrides": ...}`: the batch Run's own resolved
    params). An element that is an object is that input's params (the API stored it resolved, like a live
    `input`): its keys win, and a param it leaves out keeps the Run's own value. Any other value (a Task without a
    params schema takes any JSON) is added as `input`, the params staying the Run's. `index` is the original
    input index (the same across resumes: name outputs by it).
    """
    params = dict(run.get("params") or {})
    out: dict[str, Any] = {"params": params, "overrides": dict(run.get("overrides") or {}), "index": index}
    if isinstance(element, dict):
        params.update(element)
    else:
        out["input"] = element
    return out


def env_safe(text: str) -> bool:
    """A value the kubelet's env-file parser (1.34) gives back exactly: one line, no surrounding blanks, no
    trailing backslash (a continuation), not empty (read as absent), at most 32 KiB."""
    return (
        bool(text)
        and text == text.strip()
        and not any(c in text for c in "\n\r\x00")
        and not text.endswith("\\")
        and len(text.encode()) <= MAX_ENV_VALUE_BYTES
    )


def env_file(params_file: Mapping[str, Any]) -> tuple[str, list[str]]:
    """The env file (`TASKOPS_PARAM_<NAME>=value` lines and the input index) and the params left out of it,
    whose values it cannot carry exactly (`env_safe`): those are in the params file only."""
    lines = [f"{INDEX_KEY}={params_file['index']}\n"]
    left_out = []
    for name, value in sorted((params_file.get("params") or {}).items()):
        text = env_value(value)
        if env_safe(text):
            lines.append(f"{env_name(name)}={text}\n")
        else:
            left_out.append(name)
    return "".join(lines), left_out
