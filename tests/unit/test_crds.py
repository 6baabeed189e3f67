"""The CRDs are generated from the models, structural, described, and checked for drift."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import Field

from taskops import crds
from taskops.domain.resources import task as task_models


def walk(schema: dict[str, Any], path: str = "") -> list[tuple[str, dict[str, Any]]]:
    out = []
    for name, sub in (schema.get("properties") or {}).items():
        out.append((f"{path}.{name}", sub))
        out.extend(walk(sub, f"{path}.{name}"))
    if isinstance(schema.get("items"), dict):
        out.extend(walk(schema["items"], f"{path}[]"))
    return out


def test_files_on_disk_match_the_models() -> None:
    assert crds.check(crds.OUTPUT_DIRS) == []
    assert crds.main(["--check"]) == 0


def test_every_field_is_described_and_structural() -> None:
    built = crds.build_crds()
    assert len(built) >= 3, sorted(built)
    for crd in built.values():
        root = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
        for path, sub in walk(root):
            if path == ".metadata":
                continue
            assert sub.get("description"), f"{crd['metadata']['name']}: {path} has no description"
            assert "type" in sub or sub.get("x-kubernetes-preserve-unknown-fields"), path
            assert "$ref" not in sub and "anyOf" not in sub, path
            for flag in ("exclusiveMinimum", "exclusiveMaximum"):
                assert isinstance(sub.get(flag, False), bool), f"{path}: OpenAPI v3.0 wants a boolean {flag}"


def test_drift_is_detected_when_a_model_changes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert crds.main(["--out", str(tmp_path)]) == 0
    assert crds.check([tmp_path]) == []

    class ChangedSpec(task_models.TaskSpec):
        owner_team: str | None = Field(default=None, description="A field added without regenerating.")

    monkeypatch.setattr(crds, "TaskSpec", ChangedSpec)
    assert crds.check([tmp_path]) == [str(tmp_path / "taskops.dev_tasks.yaml")]
    assert crds.main(["--check", "--out", str(tmp_path)]) == 1
