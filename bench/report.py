"""Run every benchmark and print one table: each figure next to the reference measured in the same run.

Each benchmark runs as its own process (`python -m bench.<name>`, on its own fresh control plane) and
saves its results to bench/results/<name>.json; this collects them into one table (metric | taskops |
reference | ratio | target | met), bench/results/latest.json (every number, the machine, the git
commit, the time) and bench/results/latest.png (the latency distributions).

    python -m bench.report                       # everything, full size (about 30 minutes)
    python -m bench.report --quick               # smaller sizes: a smoke run of every benchmark
    python -m bench.report --only writes,scale   # some of them
    python -m bench.report --only admission --merge   # rerun one, keep the others' saved results
    python -m bench.report --table-only          # the table again from the saved latest.json
    python -m bench.report --only throughput --merge --saved   # take a benchmark's saved result, run nothing
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import table
from bench.common import REPO, RESULTS


@dataclass(frozen=True)
class Bench:
    name: str
    full: tuple[str, ...]
    quick: tuple[str, ...]
    # The module `bench.<module>` (default: the name): one module may serve two scenarios.
    module: str = ""

    def result_file(self, quick: bool) -> Path:
        if self.name.startswith("schedule_lag"):  # named after its size, so runs of several sizes are kept
            args = self.quick if quick else self.full
            spread = "_spread" if "--spread" in args else ""
            return RESULTS / f"schedule_lag_{args[args.index('--tasks') + 1]}{spread}.json"
        return RESULTS / f"{self.name}.json"


BENCHES = (
    Bench("admission", (), ()),
    Bench("schedule_lag", ("--tasks", "1000", "--minutes", "2"), ("--tasks", "100", "--minutes", "1")),
    Bench(
        "schedule_lag_spread",
        ("--tasks", "5000", "--minutes", "2", "--spread"),
        ("--tasks", "300", "--minutes", "1", "--spread"),
        module="schedule_lag",
    ),
    Bench("throughput", ("--runs", "2000"), ("--runs", "200")),
    Bench("writes", ("--runs", "50"), ("--runs", "5")),
    Bench("api", (), ("--seconds", "5", "--waiters", "1000", "--window", "5")),
    Bench("scale", ("--tasks", "10000", "--runs", "100000", "--limit", "240"), ("--tasks", "500", "--runs", "5000")),
    Bench("batch", (), ("--inputs", "10000")),
)


def run_one(bench: Bench, quick: bool) -> tuple[dict[str, Any] | None, float, str | None]:
    """Run one benchmark as a process, echoing its output; → (results, seconds, error)."""
    args = bench.quick if quick else bench.full
    out = bench.result_file(quick)
    out.unlink(missing_ok=True)
    print(f"== {bench.name} {' '.join(args)}", flush=True)
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", f"bench.{bench.module or bench.name}", *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    tail: list[str] = []
    for line in proc.stdout:
        print(f"   {line}", end="", flush=True)
        tail = [*tail[-19:], line.rstrip()]
    code = proc.wait()
    took = time.monotonic() - started
    if code != 0 or not out.exists():
        return None, took, f"exit {code}: " + " / ".join(tail[-3:])
    data: dict[str, Any] = json.loads(out.read_text())
    return data, took, None


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
    }
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        models = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if "model name" in line]
        info["cpu"] = models[0] if models else None
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        total = next(line for line in meminfo.read_text().splitlines() if line.startswith("MemTotal"))
        info["memory_gb"] = round(int(total.split()[1]) / 1024 / 1024, 1)
    return info


def git() -> dict[str, Any]:
    def out(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=False).stdout.strip()

    # Saved results are not code: a checkout differing only in bench/results is clean.
    changes = out("status", "--porcelain", "--untracked-files=no", "--", ".", ":!bench/results")
    return {"commit": out("rev-parse", "HEAD"), "dirty": bool(changes)}


def cdf(ax: Any, series: dict[str, list[float]], title: str, unit_scale: float = 1000.0) -> None:
    for label, values in series.items():
        if not values:
            continue
        xs = sorted(v * unit_scale for v in values)
        ys = [(i + 1) / len(xs) for i in range(len(xs))]
        ax.step(xs, ys, where="post", label=f"{label} (n={len(xs)})")
    ax.set_title(title)
    ax.set_xlabel("ms")
    ax.set_ylabel("fraction ≤ x")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)


def chart(results: dict[str, dict[str, Any]], path: Path) -> Path | None:
    """CDFs of fire → Job (taskops, floor, CronJob) and trigger latency (REST vs raw), and completions bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = []
    for name in ("schedule_lag", "schedule_lag_spread"):
        lag = results.get(name) or {}
        series = {
            label: samples
            for label, key in (("taskops", "taskops"), ("floor", "floor"), ("CronJob", "cronjob"))
            if (samples := lag.get(key, {}).get("job", {}).get("samples"))
        }
        if series:
            shape = "spread" if lag.get("spread") else "same second"
            panels.append(("cdf", series, f"fire -> Job, {lag.get('tasks')} schedules ({shape})"))
    api = results.get("api") or {}
    if api.get("rest", {}).get("samples"):
        series = {"REST trigger": api["rest"]["samples"], "raw Run create": api.get("raw", {}).get("samples", [])}
        panels.append(("cdf", series, f"trigger latency at {api.get('rate')}/s"))
    tp = results.get("throughput") or {}
    if tp.get("taskops") and tp.get("raw"):
        bars = {
            "plain Jobs": tp["raw"]["completed_per_s"],
            "Runs": tp["taskops"]["completed_per_s"],
            "Runs, key": (tp.get("taskops_key") or {}).get("completed_per_s", 0.0),
        }
        panels.append(("bars", bars, f"completed per second, {tp.get('runs')} single-pod runs"))
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4.2), squeeze=False)
    for ax, (kind, data, title) in zip(axes[0], panels, strict=True):
        if kind == "cdf":
            cdf(ax, data, title)
        else:
            ax.bar(list(data), list(data.values()), color=["#888888", "#4c72b0", "#4c72b0"])
            ax.set_title(title)
            ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def keep(report: dict[str, Any], saved: dict[str, Any], rerun: set[str]) -> None:
    """Carry the saved results of the benchmarks not rerun into `report`, with when they were measured."""
    report["results"] = {k: v for k, v in saved["results"].items() if k not in rerun}
    report["durations_s"] = {k: v for k, v in saved["durations_s"].items() if k not in rerun and k != "total"}
    when = saved.get("measured_at") or {}
    report["measured_at"] = {k: when.get(k, saved["timestamp"]) for k in report["results"]}
    report["merged_from"] = {"timestamp": saved["timestamp"], "git": saved["git"], "kept": sorted(report["results"])}


def header(report: dict[str, Any], quick: bool) -> str:
    size = "quick sizes (smoke run, not the targets' sizes)" if quick else "full size"
    return f"\ntaskops benchmarks, {size}; {report['machine'].get('cpus')} CPUs, git {report['git']['commit'][:10]}"


def take_saved(report: dict[str, Any], bench: Bench, quick: bool) -> None:
    """Put a benchmark's saved result (from a run of it alone) into `report`, dated by its file."""
    saved_file = bench.result_file(quick)
    if not saved_file.exists():
        report["errors"][bench.name] = f"no saved result {saved_file}"
        return
    report["results"][bench.name] = json.loads(saved_file.read_text())
    mtime = dt.datetime.fromtimestamp(saved_file.stat().st_mtime, dt.UTC)
    report["measured_at"][bench.name] = mtime.isoformat(timespec="seconds")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", help="comma-separated: " + ",".join(b.name for b in BENCHES))
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    parser.add_argument("--table-only", action="store_true", help="print the table of the saved latest.json")
    parser.add_argument(
        "--merge", action="store_true", help="keep the saved latest.json's results of the benchmarks not run now"
    )
    parser.add_argument(
        "--saved",
        action="store_true",
        help="take the chosen benchmarks' saved bench/results/<name>.json (run alone) instead of running them",
    )
    args = parser.parse_args()
    latest = RESULTS / "latest.json"
    if args.table_only:
        saved = json.loads(latest.read_text())
        print(table.render(table.build(saved["results"])))
        return
    chosen = set(args.only.split(",")) if args.only else {b.name for b in BENCHES}
    unknown = chosen - {b.name for b in BENCHES}
    if unknown:
        parser.error(f"unknown benchmarks: {', '.join(sorted(unknown))}")
    started = time.monotonic()
    report: dict[str, Any] = {
        "timestamp": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "git": git(),
        "machine": machine(),
        "results": {},
        "durations_s": {},
        "measured_at": {},
        "errors": {},
    }
    if args.merge and latest.exists():
        saved = json.loads(latest.read_text())
        keep(report, saved, chosen)  # it records what was kept, from when (merged_from)
    for bench in BENCHES:
        if bench.name not in chosen:
            continue
        if args.saved:
            take_saved(report, bench, args.quick)
            continue
        report["measured_at"][bench.name] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        data, took, error = run_one(bench, args.quick)
        report["durations_s"][bench.name] = round(took, 1)
        if data is not None:
            report["results"][bench.name] = data
        if error is not None:
            report["errors"][bench.name] = error
    report["durations_s"]["total"] = round(time.monotonic() - started, 1)  # of this invocation
    rows = table.build(report["results"])
    report["table"] = [row.as_dict() for row in rows]
    RESULTS.mkdir(parents=True, exist_ok=True)
    latest.write_text(json.dumps(report, indent=2, default=str))
    try:
        png = chart(report["results"], RESULTS / "latest.png")
    except Exception as exc:  # a chart is a convenience: never lose the table to it
        print(f"chart failed: {exc!r}")
        png = None
    print(header(report, args.quick))
    print(table.render(rows))
    missed = [f"{r.group}: {r.metric}" for r in rows if r.met is False]
    print(f"\ntargets met: {sum(r.met is True for r in rows)}, missed: {len(missed)}")
    for name, error in report["errors"].items():
        print(f"FAILED {name}: {error}")
    print(f"saved {latest}" + (f" and {png}" if png else "") + f" ({report['durations_s']['total']:.0f} s)")
    if report["errors"]:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
