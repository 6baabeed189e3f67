"""Batch runs: one Run, many inputs, one Indexed Job per attempt (docs/batch.md).

Pure helpers shared by the operator and the API:

- `chunk_inputs` / `plan_chunks` split input values into JSON-lines texts, one per
  ConfigMap (`chunk_names`), every chunk under `max_bytes`;
- index ranges in the Job API's compact form ("1,3-5,7"): `parse_ranges`,
  `format_ranges`, `merge_ranges`;
- `index_map_text`: the file a resume attempt reads its original indexes from.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from taskops import API_VERSION
from taskops.domain.execution.batchparams import MAX_CHUNK_BYTES
from taskops.domain.resources import names
from taskops.domain.resources.raw import resumes_done

INPUTS_KEY = "inputs.jsonl"
INDEX_MAP_KEY = "index-map.txt"
INPUTS_VOLUME = "taskops-inputs"
# Beside /etc/taskops (the params volume), not inside it: a mount point inside a read-only volume may fail.
INPUTS_DIR = "/etc/taskops-inputs"
INDEX_MAP_PATH = f"{INPUTS_DIR}/{INDEX_MAP_KEY}"
MAX_INPUTS = 100_000
# One projected volume source per chunk: the pod spec (and the Job) must stay small.
MAX_CHUNKS = 1000
# A Run whose input chunks are still missing this long after its creation ends INVALID.
CHUNK_TIMEOUT_SECONDS = 300
NAME_MAX = 253


def _line(value: Any) -> str:
    # json.dumps escapes newlines inside strings: one value is always one line.
    # ASCII JSON: no U+2028 and the like, which some readers (str.splitlines) take for line ends.
    return json.dumps(value, separators=(",", ":"))


def plan_chunks(values: Sequence[Any], max_bytes: int = MAX_CHUNK_BYTES) -> tuple[int, list[str]]:
    """(chunkSize, texts): the values as JSON lines, `chunkSize` lines per chunk (the last may be shorter).

    chunkSize = max(1, max_bytes // (longest line in UTF-8 bytes + 1 newline)), capped at the
    number of values: every chunk is at most chunkSize * longest line, hence under max_bytes.
    Raises ValueError for no values, more than MAX_INPUTS, a value longer than max_bytes, or
    inputs needing more than MAX_CHUNKS chunks.
    """
    if not values:
        raise ValueError("at least one input is required")
    if len(values) > MAX_INPUTS:
        raise ValueError(f"at most {MAX_INPUTS} inputs (got {len(values)})")
    lines = [_line(v) + "\n" for v in values]
    longest = max(len(line.encode()) for line in lines)
    if longest > max_bytes:
        raise ValueError(f"an input is {longest} bytes as JSON; at most {max_bytes - 1} fit in a chunk")
    size = min(len(lines), max(1, max_bytes // longest))
    texts = ["".join(lines[i : i + size]) for i in range(0, len(lines), size)]
    if len(texts) > MAX_CHUNKS:
        raise ValueError(f"the inputs need {len(texts)} chunks; at most {MAX_CHUNKS} (use smaller inputs)")
    return size, texts


def chunk_inputs(values: Sequence[Any], max_bytes: int = MAX_CHUNK_BYTES) -> list[str]:
    """The JSON-lines texts of the chunks (see `plan_chunks`; chunkSize is the line count of the first)."""
    return plan_chunks(values, max_bytes)[1]


def suffixed(base: str, suffix: str) -> str:
    """`base + suffix`, the base shortened with a hash of itself when the whole exceeds 253 characters."""
    return names.shortened(base, suffix, NAME_MAX)


def chunk_names(run_name: str, n: int) -> list[str]:
    """`<run>-inputs-<k>` for k in 0..n-1 (shortened with a hash of the run name beyond 253 characters)."""
    return [suffixed(run_name, f"-inputs-{k}") for k in range(n)]


def index_map_name(run_name: str, attempt: int) -> str:
    """`<run>-index-map-<attempt>`: the ConfigMap of a resume attempt's original indexes."""
    return suffixed(run_name, f"-index-map-{attempt}")


def config_map(
    name: str,
    namespace: str,
    run_name: str,
    run_uid: str,
    data: dict[str, str],
    controller: bool = False,
    owner_kind: str = "Run",
) -> dict[str, Any]:
    """A ConfigMap owned by the Run (deleted with it), labelled with its name; a schedule's chunks are owned by
    its Task (`owner_kind`), and shared by the Runs it fires."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {names.LABEL_RUN: run_name},
            "ownerReferences": [
                {
                    "apiVersion": API_VERSION,
                    "kind": owner_kind,
                    "name": run_name,
                    "uid": run_uid,
                    "controller": controller,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "data": data,
    }


def chunk_config_maps(
    run_name: str, run_uid: str, namespace: str, texts: Sequence[str], owner_kind: str = "Run"
) -> list[dict[str, Any]]:
    """The input ConfigMaps of a Run (or a schedule's Task), for the writer (the API) to create after it."""
    return [
        config_map(name, namespace, run_name, run_uid, {INPUTS_KEY: text}, owner_kind=owner_kind)
        for name, text in zip(chunk_names(run_name, len(texts)), texts, strict=True)
    ]


# --- index ranges: "1,3-5,7" -----------------------------------------------------


def parse_ranges(text: str | None) -> list[int]:
    """The sorted, distinct indexes of a compact range text ("" or None: none)."""
    out: set[int] = set()
    for raw in (text or "").split(","):
        part = raw.strip()
        if not part:
            continue
        lo, sep, hi = part.partition("-")
        start = int(lo)
        end = int(hi) if sep else start
        if start < 0 or end < start:
            raise ValueError(f"bad index range {part!r}")
        out.update(range(start, end + 1))
    return sorted(out)


def format_ranges(indexes: Iterable[int]) -> str:
    """Indexes in compact form: sorted, distinct, consecutive runs of two or more as a-b."""
    parts: list[str] = []
    ordered = sorted(set(indexes))
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        parts.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(parts)


def merge_ranges(*texts: str | None) -> str:
    """The union of range texts, in compact form."""
    merged: set[int] = set()
    for text in texts:
        merged.update(parse_ranges(text))
    return format_ranges(merged)


def index_map_text(indexes: Sequence[int]) -> str:
    """Line i+1 is the original input index that JOB_COMPLETION_INDEX i works on."""
    return "".join(f"{i}\n" for i in indexes)


def parse_index_map(text: str) -> list[int]:
    """The indexes `index_map_text` wrote (what a reader of a resume attempt's map needs); a bad line is a
    ValueError."""
    return [int(line) for line in text.split()]


def resume_wanted(run: Mapping[str, Any]) -> bool:
    """A raw Run whose spec.resume is above the resumes done (the reconciler decides whether it can)."""
    spec = run.get("spec") or {}
    return bool(spec.get("inputs")) and int(spec.get("resume") or 0) > resumes_done(run)
