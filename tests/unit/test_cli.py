"""The operator's flags: a malformed or inconsistent value is a clear exit naming the flag, before anything connects."""

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


def test_env_files_without_an_init_image_exits_naming_both_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TASKOPS_BATCH_INIT_IMAGE", raising=False)
    with pytest.raises(SystemExit, match="--batch-env-files needs --batch-init-image"):
        cli.main(["operator", "--batch-env-files"])
