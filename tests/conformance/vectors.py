"""Loading the conformance vectors: data files transcribed from other projects' published tests.

Each file in data/ names where its vectors came from (`source`: repository, path, commit) and
marks every case where taskops deliberately differs with `differs: <id>`; the ids are listed in
data/differences.yaml with the line of docs/schedules.md that documents the difference.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml

DATA = Path(__file__).parent / "data"
DOCS = Path(__file__).parents[2] / "docs" / "schedules.md"
UTC = dt.UTC


def load(name: str) -> dict[str, Any]:
    document = yaml.safe_load((DATA / name).read_text())
    assert isinstance(document, dict)
    source = document["source"]
    assert source["repository"] and source["path"] and source["commit"], f"{name}: source incomplete"
    return document


def differences() -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = load("differences.yaml")["differences"]
    return found


def cases(name: str, key: str = "cases") -> list[Any]:
    """The cases of one data file as pytest params, each with its upstream name as id."""
    known = differences()
    params = []
    for case in load(name)[key]:
        differs = case.get("differs")
        assert differs is None or differs in known, f"{name}: {case['name']} cites unknown difference {differs}"
        params.append(pytest.param(case, id=case["name"]))
    assert params, f"{name}: no {key}"
    return params


def instant(text: str) -> dt.datetime:
    """An RFC 3339 instant of a vector (with an offset or Z)."""
    value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    assert value.tzinfo is not None, f"{text!r} has no offset"
    return value.astimezone(UTC)


def wall(text: str) -> dt.datetime:
    """A local wall-clock time of a vector (no offset)."""
    value = dt.datetime.fromisoformat(text)
    assert value.tzinfo is None, f"{text!r} is a local time, it must not carry an offset"
    return value
