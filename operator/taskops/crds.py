"""Generate the CustomResourceDefinitions from the pydantic models (the single schema source).

`python -m taskops.crds` writes `crds/*.yaml` and the chart's copy in
`charts/taskops/crds/*.yaml`, and beside them the admission policies of
taskops.policies (`crds/policies/`, `charts/taskops/templates/admission-policies.yaml`);
`python -m taskops.crds --check` exits non-zero when a file differs from what
the code generates.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from taskops import GROUP, VERSION, policies
from taskops.domain.resources.agent import AgentSpec, AgentStatus
from taskops.domain.resources.run import RunSpec, RunStatus
from taskops.domain.resources.task import TaskSpec, TaskStatus

REPO_ROOT = Path(__file__).resolve().parents[2]
# Every place a copy of the CRDs lives: `kubectl apply -f crds/`, and the Helm chart's crds/
# (Helm installs those before the templates and never upgrades or deletes them).
OUTPUT_DIRS = [REPO_ROOT / "crds", REPO_ROOT / "charts" / "taskops" / "crds"]

_DROP_KEYS = {"title", "$defs"}


def _resolve(schema: Any, defs: dict[str, Any]) -> Any:
    """Inline $refs and turn pydantic's JSON Schema into a Kubernetes structural schema."""
    if isinstance(schema, list):
        return [_resolve(s, defs) for s in schema]
    if not isinstance(schema, dict):
        return schema
    if "$ref" in schema:
        target = defs[schema["$ref"].split("/")[-1]]
        merged = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
        return _resolve(merged, defs)
    if "anyOf" in schema:
        # Optional[X] is anyOf [X, null]; in a CR an absent field is the None.
        options = [o for o in schema["anyOf"] if o != {"type": "null"}]
        if len(options) == 1:
            rest = {k: v for k, v in schema.items() if k != "anyOf"}
            if rest.get("default", "") is None:
                del rest["default"]
            return _resolve({**options[0], **rest}, defs)
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _DROP_KEYS:
            continue
        if key == "properties":
            out[key] = {name: _resolve(sub, defs) for name, sub in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            out[key] = _resolve(value, defs)
        else:
            out[key] = value
    if out.get("additionalProperties") is False:
        # Structural schemas prune unknown fields themselves; `false` is not allowed beside properties.
        del out["additionalProperties"]
    if out.get("type") == "object" and out.get("additionalProperties") in (True, {}):
        del out["additionalProperties"]
        out["x-kubernetes-preserve-unknown-fields"] = True
    if "const" in out:
        out["enum"] = [out.pop("const")]
    # JSON Schema 2020 writes exclusive bounds as numbers; OpenAPI v3.0 (CRDs) as a flag on min/max.
    for bound, flag in (("minimum", "exclusiveMinimum"), ("maximum", "exclusiveMaximum")):
        if isinstance(out.get(flag), int | float) and not isinstance(out.get(flag), bool):
            out[bound] = out.pop(flag)
            out[flag] = True
    return out


def _strip_defaults(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {k: _strip_defaults(v) for k, v in schema.items() if k != "default"}
    if isinstance(schema, list):
        return [_strip_defaults(s) for s in schema]
    return schema


def _name_rule(kind: str) -> dict[str, Any]:
    """Task and Run names are also label values on the Runs, Jobs and pods made for them: 63 characters at most."""
    if kind not in ("Task", "Run"):
        return {}
    rule = {"rule": "self.metadata.name.size() <= 63", "message": f"a {kind}'s name is at most 63 characters"}
    return {"x-kubernetes-validations": [rule]}


def structural(model: type[BaseModel], *, defaults: bool = True) -> dict[str, Any]:
    raw = model.model_json_schema(by_alias=True, mode="validation")
    schema = _resolve(raw, raw.get("$defs", {}))
    if not isinstance(schema, dict):
        raise TypeError(model)
    return schema if defaults else _strip_defaults(schema)


def _crd(
    kind: str,
    plural: str,
    short_names: list[str],
    spec_model: type[BaseModel],
    status_model: type[BaseModel],
    description: str,
    columns: list[dict[str, Any]],
) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": kind.lower(),
                "shortNames": short_names,
                "categories": ["taskops"],
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": columns,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "description": description,
                            "required": ["spec"],
                            **_name_rule(kind),
                            "properties": {
                                "apiVersion": {"type": "string", "description": "API version: taskops.dev/v1alpha1."},
                                "kind": {"type": "string", "description": f"Kind: {kind}."},
                                "metadata": {"type": "object"},
                                "spec": structural(spec_model),
                                "status": structural(status_model, defaults=False),
                            },
                        }
                    },
                }
            ],
        },
    }


def build_crds() -> dict[str, dict[str, Any]]:
    """File name → CRD object."""
    age = {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}
    task = _crd(
        "Task",
        "tasks",
        ["tsk"],
        TaskSpec,
        TaskStatus,
        "A Task is a Job template plus a schedule and rules; each execution of it is a Run.",
        [
            {"name": "Kind", "type": "string", "jsonPath": ".spec.scheduleKind"},
            {"name": "Schedule", "type": "string", "jsonPath": ".spec.scheduleExpr"},
            {"name": "State", "type": "string", "jsonPath": ".spec.state"},
            {"name": "Last", "type": "date", "jsonPath": ".status.lastScheduleTime"},
            {"name": "Next", "type": "string", "jsonPath": ".status.nextRunAt"},
            {"name": "Title", "type": "string", "jsonPath": ".spec.title", "priority": 1},
            age,
        ],
    )
    run = _crd(
        "Run",
        "runs",
        ["trun"],
        RunSpec,
        RunStatus,
        "A Run is one execution of a Task; each attempt of it is one Kubernetes Job.",
        [
            {"name": "Task", "type": "string", "jsonPath": ".spec.taskRef.name"},
            {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
            {"name": "Reason", "type": "string", "jsonPath": ".status.endReason"},
            {"name": "Exit", "type": "integer", "jsonPath": ".status.exitCode"},
            {"name": "Attempt", "type": "integer", "jsonPath": ".status.attempt", "priority": 1},
            {"name": "Job", "type": "string", "jsonPath": ".status.jobName", "priority": 1},
            {"name": "Webhook", "type": "string", "jsonPath": ".status.webhook.state", "priority": 1},
            {"name": "Message", "type": "string", "jsonPath": ".status.message"},
            age,
        ],
    )
    agent = _crd(
        "Agent",
        "agents",
        ["agt"],
        AgentSpec,
        AgentStatus,
        "An Agent is an executor Runs are queued for (seed 000 agent_id): a capacity and defaults for its Jobs.",
        [
            {"name": "Capacity", "type": "integer", "jsonPath": ".spec.capacity"},
            {"name": "Max-Queued", "type": "integer", "jsonPath": ".spec.maxQueued"},
            age,
        ],
    )
    return {f"{GROUP}_tasks.yaml": task, f"{GROUP}_runs.yaml": run, f"{GROUP}_agents.yaml": agent}


def render(crd: dict[str, Any]) -> str:
    header = "# Generated by `python -m taskops.crds` from operator/taskops/domain/resources. Do not edit.\n"
    return header + yaml.safe_dump(crd, sort_keys=False, width=120)


def check(dirs: list[Path]) -> list[str]:
    """The paths whose content differs from what the models generate."""
    drift = []
    for directory in dirs:
        for name, crd in build_crds().items():
            path = directory / name
            if not path.exists() or path.read_text() != render(crd):
                drift.append(str(path))
    return drift


def policy_files(repo: Path = REPO_ROOT) -> dict[Path, str]:
    """Every generated admission-policy file: the non-Helm manifests under crds/ and the chart's template."""
    out = {repo / "crds" / name: text for name, text in policies.non_helm_files().items()}
    out[repo / "charts" / "taskops" / policies.CHART_TEMPLATE] = policies.chart_template()
    return out


def check_policies(repo: Path = REPO_ROOT) -> list[str]:
    return [str(path) for path, text in policy_files(repo).items() if not path.exists() or path.read_text() != text]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail when the files differ from the models")
    parser.add_argument("--out", type=Path, action="append", help="output directory (repeatable)")
    args = parser.parse_args(argv)
    dirs = args.out or OUTPUT_DIRS
    if args.check:
        drift = check(dirs) + ([] if args.out else check_policies())
        for path in drift:
            print(f"drift: {path} differs from what the code generates; run `python -m taskops.crds`", file=sys.stderr)
        return 1 if drift else 0
    for directory in dirs:
        directory.mkdir(parents=True, exist_ok=True)
        for name, crd in build_crds().items():
            (directory / name).write_text(render(crd))
            print(f"wrote {directory / name}")
    if not args.out:
        for target, text in policy_files().items():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
            print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
