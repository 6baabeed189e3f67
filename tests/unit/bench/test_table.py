"""The benchmark report's table: ratios, targets and verdicts (pure; no cluster)."""

from __future__ import annotations

import math

from bench import table
from bench.table import Row, Target


def test_ratio_is_value_over_reference_and_absent_without_one() -> None:
    assert Row("x", "s", 2.0, 8.0).ratio == 0.25
    assert Row("x", "s", 2.0).ratio is None
    assert Row("x", "s", 2.0, 0.0).ratio is None
    assert Row("x", "s", None, 1.0).ratio is None


def test_value_ratio_and_excess_targets() -> None:
    assert Target(0.25).met(0.2, None) is True
    assert Target(0.25).met(0.3, None) is False
    assert Target(0.25, "ratio").met(1.0, 4.0) is True
    assert Target(0.25, "ratio").met(1.0, 2.0) is False
    assert Target(0.5, "ratio", at_least=True).met(60.0, 100.0) is True
    assert Target(0.5, "ratio", at_least=True).met(40.0, 100.0) is False
    assert Target(1.0, "excess").met(1.5, 0.8) is True
    assert Target(1.0, "excess").met(2.0, 0.8) is False
    assert Target(0.25, "ratio").met(1.0, None) is None
    assert Target(0.25, "ratio").met(1.0, math.nan) is None


def test_a_row_meets_its_targets_only_if_every_one_is_met() -> None:
    both = (Target(0.25), Target(0.25, "ratio"))
    assert Row("p99", "s", 0.1, 1.0, targets=both).met is True
    assert Row("p99", "s", 0.1, 0.2, targets=both).met is False  # absolute met, ratio missed
    assert Row("p99", "s", 0.3, 10.0, targets=both).met is False
    assert Row("p99", "s", None, 1.0, targets=both).met is False  # no value: missed
    assert Row("p99", "s", 0.1, None, targets=both).met is None  # no reference: cannot tell
    assert Row("p50", "s", 0.1, 1.0).met is None  # no target


def test_rows_from_results_and_missing_benchmarks() -> None:
    results = {
        "schedule_lag": {
            "tasks": 1000,
            "minutes": 2,
            "taskops": {"job": {"n": 2000, "p50": 0.5, "p99": 1.2}},
            "floor": {"job": {"n": 2000, "p50": 0.4, "p99": 1.0}},
            "cronjob": {"job": {"n": 2000, "p50": 5.0, "p99": 10.0}},
        },
        "throughput": {"runs": 2000, "raw": {"completed_per_s": 50.0}, "taskops": {"completed_per_s": 30.0}},
    }
    rows = table.build(results)
    p99 = [r for r in rows if r.metric == "fire -> Job p99"]
    assert [(r.reference_name, r.ratio, r.met) for r in p99] == [("floor", 1.2, True), ("CronJob", 0.12, True)]
    by_metric = {r.metric: r for r in rows}
    assert by_metric["Runs SUCCEEDED per second"].met is False  # 0.6 of plain Jobs, target 0.8
    assert by_metric["the same with a concurrency key"].value is None  # absent in the results: shown as "-"
    assert not any(r.group.startswith("scale") for r in rows)


def test_render_has_one_line_per_row_and_group_headers() -> None:
    rows = [
        Row("fire lag p99", "s", 0.2, 1.0, "CronJob", (Target(0.25),), group="schedule"),
        Row("writes per Run", "", 7.0, 13.0, targets=(Target(6.0),), group="writes"),
    ]
    text = table.render(rows)
    lines = text.splitlines()
    assert lines[0].startswith("metric") and "reference" in lines[0] and "met" in lines[0]
    assert len(lines) == 2 + 2 + 2  # header, rule, two group lines, two rows
    assert "200.0 ms" in text and "1.00 s (CronJob)" in text and "0.20" in text
    assert "| yes" in text and "| NO" in text


def test_number_formats() -> None:
    assert table.number(0.0123, "s") == "12.3 ms"
    assert table.number(12.34, "s") == "12.3 s"
    assert table.number(523.4, "MB") == "523 MB"
    assert table.number(None) == "-"
    assert table.number(math.nan) == "-"
    assert table.number(5.0) == "5.00"
