"""The operator's --shard flag: a malformed value is a clear exit naming the flag, before anything connects."""

from __future__ import annotations

import pytest

from taskops import cli


@pytest.mark.parametrize(("value", "says"), [("3/2", "index must be 0 to 1"), ("two", "INDEX/COUNT")])
def test_a_bad_shard_exits_naming_the_flag(value: str, says: str) -> None:
    with pytest.raises(SystemExit, match=f"--shard.*{says}"):
        cli.main(["operator", "--shard", value])


def test_the_shard_defaults_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TASKOPS_SHARD", "5/4")
    with pytest.raises(SystemExit, match="index must be 0 to 3"):
        cli.main(["operator"])
