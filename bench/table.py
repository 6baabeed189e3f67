"""The report's table: pure functions from benchmark results to rows, ratios and verdicts (unit-tested)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

Of = Literal["value", "ratio", "excess"]


@dataclass(frozen=True)
class Target:
    """`value`, `value / reference` (ratio) or `value - reference` (excess) must be at most (or least) `bound`."""

    bound: float
    of: Of = "value"
    at_least: bool = False
    label: str | None = None

    def subject(self, value: float, reference: float | None) -> float | None:
        if self.of == "value":
            return value
        if reference is None or math.isnan(reference):
            return None
        if self.of == "excess":
            return value - reference
        return value / reference if reference else None

    def met(self, value: float, reference: float | None) -> bool | None:
        subject = self.subject(value, reference)
        if subject is None or math.isnan(subject):
            return None
        return subject >= self.bound if self.at_least else subject <= self.bound

    def text(self, unit: str) -> str:
        if self.label:
            return self.label
        sign = ">=" if self.at_least else "<="
        what = {"value": "", "ratio": "ratio ", "excess": "extra "}[self.of]
        suffix = "" if self.of == "ratio" else f" {unit}".rstrip()
        return f"{what}{sign} {self.bound:g}{suffix}"


@dataclass(frozen=True)
class Row:
    metric: str
    unit: str
    value: float | None
    reference: float | None = None
    reference_name: str = ""
    targets: tuple[Target, ...] = ()
    group: str = ""

    @property
    def ratio(self) -> float | None:
        if self.value is None or self.reference is None or not self.reference:
            return None
        return self.value / self.reference

    @property
    def met(self) -> bool | None:
        """True if every target is met, False if one is missed, None if there is no target or no value."""
        if not self.targets:
            return None
        if self.value is None:
            return False
        verdicts = [t.met(self.value, self.reference) for t in self.targets]
        if any(v is False for v in verdicts):
            return False
        return None if any(v is None for v in verdicts) else True

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["targets"] = [t.text(self.unit) for t in self.targets]
        out.update(ratio=self.ratio, met=self.met)
        return out


def number(value: float | None, unit: str = "") -> str:
    if value is None or math.isnan(value):
        return "-"
    if unit == "s" and abs(value) < 1:
        return f"{value * 1000:.1f} ms"
    magnitude = abs(value)
    text = f"{value:.0f}" if magnitude >= 100 else f"{value:.1f}" if magnitude >= 10 else f"{value:.2f}"
    if magnitude and magnitude < 0.01:
        text = f"{value:.2g}"
    return f"{text} {unit}".rstrip()


def verdict(met: bool | None) -> str:
    return {True: "yes", False: "NO", None: ""}[met]


def render(rows: list[Row]) -> str:
    """One table: metric | taskops | reference | ratio | target | met (the reference's name under its value)."""
    header = ("metric", "taskops", "reference", "ratio", "target", "met")
    lines: list[tuple[str, ...]] = []
    groups: dict[int, str] = {}
    for row in rows:
        if not groups or row.group != list(groups.values())[-1]:
            groups[len(lines)] = row.group
        ratio = "-" if row.ratio is None else f"{row.ratio:.2f}"
        reference = number(row.reference, row.unit)
        if row.reference_name and row.reference is not None:
            reference = f"{reference} ({row.reference_name})"
        targets = ", ".join(t.text(row.unit) for t in row.targets)
        lines.append((row.metric, number(row.value, row.unit), reference, ratio, targets, verdict(row.met)))
    widths = [max(len(line[i]) for line in [header, *lines]) for i in range(len(header))]

    def fmt(cells: tuple[str, ...]) -> str:
        return " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    out = [fmt(header), "-+-".join("-" * w for w in widths)]
    for i, line in enumerate(lines):
        if i in groups:
            out.append(f"[{groups[i]}]")
        out.append(fmt(line))
    return "\n".join(out)


# -- rows from each benchmark's results ----------------------------------------------------------------


def _get(data: dict[str, Any], *path: str) -> Any:
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


@dataclass
class Rows:
    group: str
    data: dict[str, Any]
    out: list[Row] = field(default_factory=list)

    def add(
        self,
        metric: str,
        unit: str,
        value: tuple[str, ...],
        reference: tuple[str, ...] | None = None,
        reference_name: str = "",
        targets: tuple[Target, ...] = (),
        scale: float = 1.0,
    ) -> None:
        v = _get(self.data, *value)
        r = _get(self.data, *reference) if reference else None
        self.out.append(
            Row(
                metric,
                unit,
                None if v is None else float(v) * scale,
                None if r is None else float(r) * scale,
                reference_name,
                targets,
                self.group,
            )
        )


def admission_rows(d: dict[str, Any]) -> list[Row]:
    r = Rows(f"admission, {d.get('pending', '?')} pending Runs over {d.get('keys', '?')} keys, one Run ends", d)
    ref = "one pass over every waiting Run"
    r.add("decision, median", "ms", ("decision_ms", "median"), ("reference_one_pass_ms", "median"), ref, (Target(1.0),))
    r.add(
        "decision, CPU time, median", "ms", ("decision_cpu_ms", "median"), ("reference_one_pass_ms", "cpu_median"), ref
    )
    r.add(
        "decision, p99 (machine load shows here)",
        "ms",
        ("decision_ms", "p99"),
        ("reference_one_pass_ms", "median"),
        ref,
    )
    return r.out


def schedule_rows(d: dict[str, Any]) -> list[Row]:
    """Fire → Job and fire → pod Running: taskops against the floor (a plain client creating the same Jobs at
    the fire) and the CronJob controller, all measured by one watcher on one control plane."""
    shape = "spread over each minute" if d.get("spread") else "due in the same second"
    r = Rows(f"schedule lag, {d.get('tasks', '?')} schedules {shape}, {d.get('minutes', '?')} min", d)
    floor, cronjob = "floor", "CronJob" + (" (all at :00)" if d.get("spread") else "")
    r.add("fire -> Job p50", "s", ("taskops", "job", "p50"), ("floor", "job", "p50"), floor)
    r.add("fire -> Job p99", "s", ("taskops", "job", "p99"), ("floor", "job", "p99"), floor, (Target(1.3, "ratio"),))
    r.add(
        "fire -> Job p99", "s", ("taskops", "job", "p99"), ("cronjob", "job", "p99"), cronjob, (Target(0.25, "ratio"),)
    )
    r.add("fire -> Job p50", "s", ("taskops", "job", "p50"), ("cronjob", "job", "p50"), cronjob)
    r.add("fire -> pod Running p50", "s", ("taskops", "pod_running", "p50"), ("floor", "pod_running", "p50"), floor)
    r.add("fire -> pod Running p99", "s", ("taskops", "pod_running", "p99"), ("floor", "pod_running", "p99"), floor)
    r.add("fire -> pod Running p99", "s", ("taskops", "pod_running", "p99"), ("cronjob", "pod_running", "p99"), cronjob)
    r.add("  fire -> Run created p99 (taskops)", "s", ("taskops", "run", "p99"))
    r.add("Jobs seen", "", ("taskops", "job", "n"), ("floor", "job", "n"), floor)
    seen, expected = _get(d, "taskops", "job", "n"), _get(d, "taskops", "expected")
    if seen is not None and expected is not None and seen < expected:
        # A percentile of the Jobs that came says nothing of those that did not: no target is met then.
        r.out = [replace(row, value=None) if row.targets else row for row in r.out]
    return r.out


def throughput_rows(d: dict[str, Any]) -> list[Row]:
    """Runs completed per second end to end, against plain Jobs completed per second on the same control plane."""
    r = Rows(f"runs completed per second, {d.get('runs', '?')} single-pod Runs, end to end", d)
    ref = "plain Jobs"
    r.add(
        "Runs SUCCEEDED per second",
        "/s",
        ("taskops", "completed_per_s"),
        ("raw", "completed_per_s"),
        ref,
        (Target(0.8, "ratio", at_least=True),),
    )
    r.add(
        "the same with a concurrency key",
        "/s",
        ("taskops_key", "completed_per_s"),
        ("raw", "completed_per_s"),
        ref,
        (Target(0.7, "ratio", at_least=True),),
    )
    r.add("  time until every one ended", "s", ("taskops", "succeeded_s"), ("raw", "complete_s"), ref)
    r.add("  creates per second (the client)", "/s", ("taskops", "creates_per_s"), ("raw", "creates_per_s"), ref)
    r.add("  time until every Job existed", "s", ("taskops", "jobs_s"), ("raw", "jobs_s"), ref)
    r.add("  with a key: time until every one ended", "s", ("taskops_key", "succeeded_s"), ("raw", "complete_s"), ref)
    return r.out


def writes_rows(d: dict[str, Any]) -> list[Row]:
    r = Rows(f"Kubernetes API writes per single-pod Run ({d.get('runs', '?')} Runs, audit log)", d)
    r.add(
        "writes by taskops per Run",
        "",
        ("taskops_writes_per_run",),
        ("kubernetes_writes_per_job",),
        "Kubernetes per direct Job",
        (Target(4.0),),
    )
    for what, per_run in (_get(d, "taskops_run", "breakdown", "taskops") or {}).items():
        r.out.append(Row(f"  {what}", "", float(per_run), group=r.group))
    r.add(
        "Kubernetes writes for the Run's Job",
        "",
        ("taskops_run", "per_run", "kubernetes"),
        ("kubernetes_writes_per_job",),
        "per direct Job",
    )
    return r.out


def api_rows(d: dict[str, Any]) -> list[Row]:
    w = d.get("waiting") or {}
    r = Rows(f"REST API, triggers at {d.get('rate', '?')}/s and {w.get('waiters', '?')} wait=true requests", d)
    ref = "raw Run create"
    r.add("trigger latency p50", "s", ("rest", "p50"), ("raw", "p50"), ref)
    r.add("trigger latency p99", "s", ("rest", "p99"), ("raw", "p99"), ref, (Target(0.05),))
    r.add(
        "API RSS with the waiters parked",
        "MB",
        ("waiting", "rss_waiting_mb"),
        ("waiting", "rss_before_mb"),
        "no waiters",
        (Target(200.0),),
    )
    r.add(
        "API server requests/s while parked",
        "/s",
        ("waiting", "apiserver_rps_waiting"),
        ("waiting", "apiserver_rps_baseline"),
        "no waiters",
        (Target(1.0, "excess", label="O(1): extra <= 1/s"),),
    )
    r.add("wake after cancel p99", "s", ("waiting", "wake", "p99"))
    return r.out


def scale_rows(d: dict[str, Any]) -> list[Row]:
    r = Rows(f"scale, operator restart with {d.get('tasks', '?')} Tasks and {d.get('runs', '?')} finished Runs", d)
    ref = "plain client lists all"
    r.add(
        "start to ready (/readyz)", "s", ("restart", "ready_s"), ("reference_listing", "list_s"), ref, (Target(30.0),)
    )
    r.add("start to settled (CPU quiet)", "s", ("restart", "settled_s"), ("reference_listing", "list_s"), ref)
    r.add("probe Run's Job after ready", "s", ("restart", "probe_job_s"))
    r.add(
        "operator peak RSS",
        "MB",
        ("restart", "rss_peak_mb"),
        ("reference_listing", "rss_peak_mb"),
        "plain client's LIST",
        (Target(500.0),),
    )
    return r.out


def batch_rows(d: dict[str, Any]) -> list[Row]:
    r = Rows(f"batch, {d.get('inputs', '?')} inputs in one request", d)
    r.add("accept time", "s", ("accept_s",), ("raw_configmaps_s",), "raw ConfigMap writes", (Target(5.0),))
    r.add("API peak RSS", "MB", ("api_rss_peak_mb",), ("api_rss_before_mb",), "before", (Target(300.0),))
    r.add("ConfigMaps owned by the Run", "", ("configmaps_owned",), ("chunks",), "chunks", (Target(100.0),))
    return r.out


ROWS = {
    "admission": admission_rows,
    "schedule_lag": schedule_rows,
    "schedule_lag_spread": schedule_rows,
    "throughput": throughput_rows,
    "writes": writes_rows,
    "api": api_rows,
    "scale": scale_rows,
    "batch": batch_rows,
}


def build(results: dict[str, dict[str, Any]]) -> list[Row]:
    """Rows for every benchmark present in `results`, in the report's order."""
    return [row for name, rows in ROWS.items() if name in results for row in rows(results[name])]
