"""What `get` prints: kubectl's tables (the CRDs' own printer columns), `-o wide`, `-o name`, `-o json|yaml`."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from typing import Any

import yaml

from taskops import GROUP
from taskops.crds import build_crds
from taskops.domain.resources import timefmt

FORMATS = ("table", "wide", "name", "json", "yaml")


@cache
def columns(plural: str) -> list[dict[str, Any]]:
    """The printer columns `kubectl get` shows for the kind (one definition: the CRD's, built from the code)."""
    crd = build_crds()[f"{GROUP}_{plural}.yaml"]
    return list(crd["spec"]["versions"][0]["additionalPrinterColumns"])


def _at(obj: Mapping[str, Any], path: str) -> Any:
    """A simple JSONPath (`.status.phase`), as the printer columns write them."""
    value: Any = obj
    for key in path.strip(".").split("."):
        value = value.get(key) if isinstance(value, Mapping) else None
    return value


def age(stamp: Any, now: dt.datetime) -> str:
    """A short age like kubectl's: 95s, 12m, 5h, 3d (a unit once there are two of the next one down)."""
    at = timefmt.parse_optional(stamp)
    if at is None:
        return "<unknown>"
    s = int(max((now - at).total_seconds(), 0))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= 2 * size:
            return f"{s // size}{unit}"
    return f"{s}s"


def _cell(value: Any, kind: str, now: dt.datetime) -> str:
    if value is None or value == "":
        return "<none>" if kind != "date" else ""
    if kind == "date":
        return age(value, now)
    return value if isinstance(value, str) else json.dumps(value)


def table(plural: str, objects: Iterable[Mapping[str, Any]], now: dt.datetime, wide: bool = False) -> str:
    shown = [c for c in columns(plural) if wide or not c.get("priority")]
    rows: list[list[str]] = [["NAME", *(c["name"].upper() for c in shown)]]
    for obj in objects:
        cells = [_cell(_at(obj, c["jsonPath"]), c["type"], now) for c in shown]
        rows.append([obj["metadata"]["name"], *cells])
    return aligned(rows)


def aligned(rows: Sequence[Sequence[str]]) -> str:
    """Rows as kubectl prints them: left-aligned columns three spaces apart."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("   ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)


def name(plural: str, obj: Mapping[str, Any]) -> str:
    """`-o name`: `run.taskops.dev/hello-x7k2p`, as kubectl writes it."""
    return f"{plural.removesuffix('s')}.{GROUP}/{obj['metadata']['name']}"


def document(objects: list[dict[str, Any]], fmt: str, single: bool) -> str:
    """`-o json|yaml`: the object as the API server has it, or a v1 List of them."""
    doc: Any = objects[0] if single and objects else {"apiVersion": "v1", "kind": "List", "items": objects}
    if fmt == "json":
        return json.dumps(doc, indent=4)
    return yaml.safe_dump(doc, sort_keys=False, width=120).rstrip("\n")


def render(plural: str, objects: list[dict[str, Any]], fmt: str, now: dt.datetime, single: bool = False) -> str:
    if fmt in ("json", "yaml"):
        return document(objects, fmt, single)
    if fmt == "name":
        return "\n".join(name(plural, o) for o in objects)
    return table(plural, objects, now, wide=fmt == "wide")
