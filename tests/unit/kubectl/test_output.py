"""`get`'s output: the CRDs' printer columns as kubectl shows them, names, and documents."""

from __future__ import annotations

import datetime as dt
import json

import yaml

from taskops.kubectl import output
from tests import builders

NOW = dt.datetime(2026, 1, 1, 12, 0, 0, tzinfo=dt.UTC)


def run(name: str, phase: str, **status: object) -> dict[str, object]:
    meta = {"creationTimestamp": "2026-01-01T11:57:00Z"}
    return builders.run(name, "hello", metadata=meta, status={"phase": phase, **status})


def test_the_table_has_the_crds_columns_and_wide_adds_the_priority_ones() -> None:
    objects = [run("hello-1", "SUCCEEDED", endReason="success", exitCode=0, attempt=1, jobName="hello-1-1")]
    lines = output.render("runs", objects, "table", NOW).splitlines()
    assert lines[0].split() == ["NAME", "TASK", "PHASE", "REASON", "EXIT", "MESSAGE", "AGE"]
    assert lines[1].split() == ["hello-1", "hello", "SUCCEEDED", "success", "0", "<none>", "3m"]
    wide = output.render("runs", objects, "wide", NOW).splitlines()
    assert wide[0].split() == ["NAME", "TASK", "PHASE", "REASON", "EXIT", "ATTEMPT", "JOB", "WEBHOOK", "MESSAGE", "AGE"]
    assert "hello-1-1" in wide[1]


def test_columns_line_up() -> None:
    objects = [run("a", "RUNNING"), run("a-much-longer-name", "QUEUED")]
    lines = output.render("runs", objects, "table", NOW).splitlines()
    assert len({line.index("hello") for line in lines[1:]}) == 1


def test_names_and_documents() -> None:
    objects = [run("hello-1", "SUCCEEDED"), run("hello-2", "FAILED")]
    assert output.render("runs", objects, "name", NOW) == "run.taskops.dev/hello-1\nrun.taskops.dev/hello-2"
    listed = json.loads(output.render("runs", objects, "json", NOW))
    assert listed["kind"] == "List" and [o["metadata"]["name"] for o in listed["items"]] == ["hello-1", "hello-2"]
    one = yaml.safe_load(output.render("runs", objects[:1], "yaml", NOW, single=True))
    assert one["kind"] == "Run" and one["metadata"]["name"] == "hello-1"


def test_ages_as_kubectl_writes_them() -> None:
    ages = [NOW - dt.timedelta(seconds=s) for s in (5, 119, 120, 7199, 7200, 172799, 172800)]
    assert [output.age(a.strftime("%Y-%m-%dT%H:%M:%SZ"), NOW) for a in ages] == [
        "5s",
        "119s",
        "2m",
        "119m",
        "2h",
        "47h",
        "2d",
    ]
    assert output.age(None, NOW) == "<unknown>"
