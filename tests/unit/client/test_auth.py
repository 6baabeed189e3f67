"""The client's token: fixed, or read from the service-account file and read again as it rotates."""

from __future__ import annotations

from pathlib import Path

import pytest

from taskops.client.auth import TokenSource, pod_namespace
from taskops.client.errors import ClientError


def test_a_token_file_is_read_again_after_the_period_and_after_a_refusal(tmp_path: Path) -> None:
    now = [0.0]
    path = tmp_path / "token"
    path.write_text("first\n")
    tokens = TokenSource(token_file=path, reread_seconds=60, clock=lambda: now[0])
    assert tokens.get() == "first"
    path.write_text("second")  # the kubelet rotated it
    now[0] = 59.0
    assert tokens.get() == "first", "read again only once the period passed"
    now[0] = 60.0
    assert tokens.get() == "second"
    path.write_text("third")
    assert tokens.refused() is True
    assert tokens.get() == "third", "a 401 makes it read at once"


def test_a_fixed_token_is_never_read_again() -> None:
    tokens = TokenSource(token="abc", token_file="/nonexistent")
    assert tokens.get() == "abc" and tokens.refused() is False


def test_no_token_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ClientError, match="no token: pass token="):
        TokenSource(token_file=tmp_path / "missing").get()
    (tmp_path / "empty").write_text("  \n")
    with pytest.raises(ClientError, match="is empty"):
        TokenSource(token_file=tmp_path / "empty").get()
    (tmp_path / "big").write_bytes(b"x" * 70_000)
    with pytest.raises(ClientError, match="not a token"):
        TokenSource(token_file=tmp_path / "big").get()


def test_the_pods_namespace(tmp_path: Path) -> None:
    (tmp_path / "namespace").write_text("team-a\n")
    assert pod_namespace(tmp_path / "namespace") == "team-a"
    assert pod_namespace(tmp_path / "missing") is None
