"""Every deliberate difference cited by a vector is documented in docs/schedules.md."""

from __future__ import annotations

import pytest

from tests.conformance.vectors import DATA, DOCS, differences, load

SECTION = "## Conformance and deliberate differences"


@pytest.mark.parametrize("name", sorted(differences()))
def test_difference_is_documented(name: str) -> None:
    text = DOCS.read_text()
    says = differences()[name]["says"]
    lines = [i for i, line in enumerate(text.splitlines(), 1) if says in line]
    assert lines, f"docs/schedules.md has no line saying {says!r} (difference {name})"
    section = text.split(SECTION, 1)[1]
    assert f"- **{name}**:" in section, f"difference {name} is not listed under {SECTION!r}"


def test_every_documented_difference_is_cited_by_a_vector() -> None:
    cited = set()
    for path in DATA.glob("*.yaml"):
        if path.name == "differences.yaml":
            continue
        document = load(path.name)
        for value in document.values():
            if isinstance(value, list):
                cited |= {case["differs"] for case in value if isinstance(case, dict) and case.get("differs")}
    assert cited == set(differences()), f"documented but never cited: {set(differences()) - cited}"
