"""The chart lint's verdict (devcluster/chartlint.py): every checkov finding explained, every skip still needed."""

from __future__ import annotations

from devcluster.chartlint import SKIPS, VALUE_SETS, judge, skips


def test_a_finding_is_explained_only_by_a_skip_for_its_check_and_value_set() -> None:
    listed = [
        {"check": "CKV_A", "reason": "r"},
        {"check": "CKV_B", "values": ["defaults"], "reason": "r"},
    ]
    failed = [("CKV_A", "pinned", "Deployment.x"), ("CKV_B", "defaults", "Pod.y")]
    assert judge(failed, listed) == ([], [])
    unexplained, stale = judge([*failed, ("CKV_B", "networkpolicy", "Pod.z"), ("CKV_C", "defaults", "Pod.y")], listed)
    assert unexplained == ["  CKV_B in networkpolicy: Pod.z", "  CKV_C in defaults: Pod.y"] and stale == []
    assert judge(failed[:1], listed) == ([], ["  CKV_B (defaults)"])


def test_every_skip_has_a_reason_and_names_known_value_sets() -> None:
    listed = skips()
    assert listed, SKIPS
    for skip in listed:
        assert len(skip["reason"]) > 40, skip
        assert set(skip.get("values") or VALUE_SETS) <= set(VALUE_SETS)
