"""`python -m taskops.batchinit`: the init container of a batch pod (docs/batch.md, "Each pod's own params").

Reads the pod's completion index (JOB_COMPLETION_INDEX, set by Kubernetes), maps it through the resume
attempt's index map (TASKOPS_INDEX_MAP), reads that input's line from its chunk under TASKOPS_INPUTS_DIR,
merges it with the Run's own params file (TASKOPS_RUN_PARAMS_FILE) and writes `params.json` and `params.env`
into TASKOPS_PARAMS_DIR (an emptyDir the pod's containers mount read-only). Exits 2 with one line naming the
problem (also the container's termination message) when the input cannot be read. Standard library only.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from taskops.domain.execution import batchparams

TERMINATION_LOG = Path("/dev/termination-log")


def _read(path: Path, what: str) -> str:
    """The text of `path`, refused past MAX_FILE_BYTES (no ConfigMap or annotation is larger)."""
    try:
        with path.open("rb") as f:
            data = f.read(batchparams.MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise batchparams.BadInput(f"cannot read {what} {path}: {exc.strerror}") from None
    if len(data) > batchparams.MAX_FILE_BYTES:
        raise batchparams.BadInput(f"{what} {path} is larger than {batchparams.MAX_FILE_BYTES} bytes")
    try:
        return data.decode()
    except UnicodeDecodeError as exc:
        raise batchparams.BadInput(f"{what} {path} is not UTF-8 (byte {exc.start})") from None


def _int(env: Mapping[str, str], name: str) -> int:
    try:
        return int(env[name])
    except KeyError:
        raise batchparams.BadInput(f"{name} is not set") from None
    except ValueError:
        raise batchparams.BadInput(f"{name} is not an integer: {env[name]!r}") from None


def _write(directory: Path, name: str, text: str) -> None:
    # Written beside, then renamed: a reader never sees half a file.
    tmp = directory / f".{name}.tmp"
    tmp.write_text(text)
    tmp.replace(directory / name)


def run(env: Mapping[str, str]) -> list[str]:
    """Write the pod's params files; the names of the params the env file leaves out."""
    count = _int(env, "TASKOPS_INPUT_COUNT")
    index_map = env.get("TASKOPS_INDEX_MAP")
    map_text = _read(Path(index_map), "the index map") if index_map else None
    index = batchparams.original_index(_int(env, "JOB_COMPLETION_INDEX"), count, map_text)
    k, line = batchparams.locate(index, _int(env, "TASKOPS_CHUNK_SIZE"))
    name = batchparams.chunk_file(k)
    element = batchparams.chunk_element(_read(Path(env["TASKOPS_INPUTS_DIR"]) / name, "chunk"), line, name)
    try:
        own = json.loads(_read(Path(env["TASKOPS_RUN_PARAMS_FILE"]), "the run's params file"))
    except ValueError as exc:
        raise batchparams.BadInput(f"the run's params file is not JSON: {exc}") from None
    params = batchparams.element_params(own if isinstance(own, dict) else {}, element, index)
    text, left_out = batchparams.env_file(params)
    out = Path(env["TASKOPS_PARAMS_DIR"])
    _write(out, batchparams.PARAMS_FILE, json.dumps(params, sort_keys=True))
    _write(out, batchparams.ENV_FILE, text)
    return left_out


def main() -> int:
    try:
        left_out = run(os.environ)
    except (batchparams.BadInput, KeyError) as exc:
        message = f"taskops batch input: {exc if isinstance(exc, batchparams.BadInput) else f'{exc} is not set'}"
        print(message, file=sys.stderr)
        # No termination log outside Kubernetes: stderr says it.
        with contextlib.suppress(OSError):
            TERMINATION_LOG.write_text(message)
        return 2
    if left_out:
        # Not an error: those values are in the params file; an env var cannot carry them exactly.
        print(f"taskops batch input: not in the env (params file only): {', '.join(left_out)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
