"""API names and object names (domain/resources/apinames.py): the mapping, its collisions, names that fit a label."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from taskops.domain.resources import apinames

API_NAMES = st.from_regex(r"\A[a-zA-Z0-9._:-]{1,100}\Z")


@given(API_NAMES)
def test_every_api_name_maps_to_a_valid_object_name(name: str) -> None:
    object_name = apinames.task_object_name(name)
    assert apinames.is_object_name(object_name), object_name
    assert apinames.task_object_name(name) == object_name
    if apinames.is_object_name(name):
        assert object_name == name


@given(API_NAMES, API_NAMES)
def test_different_names_that_need_mapping_get_different_objects(a: str, b: str) -> None:
    if a != b and not apinames.is_object_name(a) and not apinames.is_object_name(b):
        assert apinames.task_object_name(a) != apinames.task_object_name(b)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("nightly", "nightly"),
        ("a.b-c", "a.b-c"),
        ("Billing:Export_v2", re.compile(r"^billing-export-v2-[0-9a-f]{10}$")),
        ("___", re.compile(r"^t-[0-9a-f]{10}$")),
        ("x" * 64, re.compile(r"^x{40}-[0-9a-f]{10}$")),
    ],
)
def test_name_mapping_table(name: str, expected: str | re.Pattern[str]) -> None:
    got = apinames.task_object_name(name)
    assert got == expected if isinstance(expected, str) else expected.match(got), got


def test_run_names_fit_in_a_label_value() -> None:
    long = "t" * 63
    for name in (
        apinames.event_run_name(long, "e", "1"),
        apinames.resume_run_name(long),
        apinames.run_name_prefix(long) + "abcde",
        apinames.idempotent_run_name("ns", "user", "k" * 300),
    ):
        assert len(name) <= 63 and apinames.is_object_name(name), name
    assert apinames.idempotent_run_name("ns", "a", "k") != apinames.idempotent_run_name("ns", "b", "k")
    assert apinames.event_run_name("t", "e", "1") != apinames.event_run_name("t", "e", "2")
