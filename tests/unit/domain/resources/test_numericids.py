"""Integer ids (domain/resources/numericids.py): a pure function of the uid, in JavaScript's safe range, parsed back
only from their canonical decimal form."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from taskops.domain.resources import numericids


@given(st.uuids().map(str) | st.text(min_size=1, max_size=100))
def test_an_id_is_a_safe_integer_that_depends_on_the_uid_only(uid: str) -> None:
    number = numericids.of_uid(uid)
    assert number is not None and 1 <= number <= 2**53 - 1
    assert numericids.of({"metadata": {"uid": uid, "name": "anything"}}) == number
    assert numericids.parse(str(number)) == number


def test_known_value_so_a_change_of_the_function_is_seen() -> None:
    # Every client holding an id depends on this value staying what it is.
    assert numericids.of_uid("9a3c8e2e-6a1f-4a43-9e38-5c2f0b1d7e44") == 8277544075420582


def test_objects_without_a_uid_have_no_id() -> None:
    assert numericids.of_uid(None) is None and numericids.of_uid("") is None
    assert numericids.of({"metadata": {"name": "x"}}) is None


def test_ids_spread_over_their_range() -> None:
    numbers = {numericids.of_uid(str(uuid.uuid4())) for _ in range(2000)}
    assert len(numbers) == 2000
    assert max(n for n in numbers if n) > 2**52  # the top bit is used


def test_only_the_canonical_decimal_form_parses() -> None:
    assert numericids.parse("123") == 123
    assert numericids.parse(str(2**53 - 1)) == 2**53 - 1
    for text in ("0", "0123", "+5", "-5", "1.0", "1e3", " 5", "٣", "²", str(2**53), "12345678901234567", "", "abc"):
        assert numericids.parse(text) is None, text
