"""Deterministic object names (domain/resources/names.py): Jobs of attempts, scheduled Runs."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from taskops.domain.resources import names

DNS_LABELISH = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
run_names = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,251}[a-z0-9])?", fullmatch=True)


@given(run_names, st.integers(min_value=1, max_value=10_000))
def test_job_names_are_valid_deterministic_and_bounded(run: str, attempt: int) -> None:
    name = names.job_name(run, attempt)
    assert len(name) <= names.JOB_NAME_MAX
    assert DNS_LABELISH.match(name), name
    assert name == names.job_name(run, attempt)
    assert name.endswith(f"-{attempt}")


@given(run_names, run_names)
def test_distinct_runs_get_distinct_job_names(a: str, b: str) -> None:
    if a != b:
        assert names.job_name(a, 1) != names.job_name(b, 1)


def test_short_names_stay_readable() -> None:
    assert names.job_name("nightly-backup-x7k2p", 2) == "nightly-backup-x7k2p-2"


def test_scheduled_run_names_fit_in_a_label_value() -> None:
    import datetime as dt

    from taskops.domain.resources import names

    at = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)
    assert names.scheduled_run_name("nightly", at) == "nightly-20261125-120000"
    long = names.scheduled_run_name("t" * 63, at)
    assert len(long) <= 63 and long.endswith("-20261125-120000")
    assert long != names.scheduled_run_name("t" * 62 + "u", at)
