"""Kubeconfig reading: the common forms without the official client, the rest through it."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
import yaml

from taskops.clients import credentials


def write(tmp_path: Path, user: dict[str, Any], cluster: dict[str, Any] | None = None) -> str:
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "c", "cluster": cluster or {"server": "https://k:6443", "certificate-authority": "ca.crt"}}
        ],
        "users": [{"name": "u", "user": user}, {"name": "other", "user": {"token": "nope"}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "x",
    }
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump(doc))
    return str(path)


def test_client_certificate_paths_are_relative_to_the_kubeconfig(tmp_path: Path) -> None:
    creds = credentials.from_kubeconfig(write(tmp_path, {"client-certificate": "a.crt", "client-key": "/abs/a.key"}))
    assert creds.server == "https://k:6443"
    assert (creds.ca_path, creds.cert_path, creds.key_path) == (
        str(tmp_path / "ca.crt"),
        str(tmp_path / "a.crt"),
        "/abs/a.key",
    )
    assert creds.token is None and not creds.insecure


def test_inline_data_goes_to_private_files_and_tokens_are_kept(tmp_path: Path) -> None:
    ca = base64.b64encode(b"CA PEM").decode()
    cluster = {"server": "https://k:6443", "certificate-authority-data": ca, "insecure-skip-tls-verify": False}
    creds = credentials.from_kubeconfig(write(tmp_path, {"token": "t0k"}, cluster))
    assert creds.token == "t0k" and creds.bearer() == "t0k"
    assert creds.ca_path is not None and Path(creds.ca_path).read_bytes() == b"CA PEM"
    assert Path(creds.ca_path).stat().st_mode & 0o077 == 0


@pytest.mark.parametrize(
    "user", [{"exec": {"command": "get-token", "apiVersion": "client.authentication.k8s.io/v1"}}, {"username": "a"}]
)
def test_other_forms_are_left_to_the_official_client(tmp_path: Path, user: dict[str, Any]) -> None:
    assert credentials._simple_kubeconfig(write(tmp_path, user), None) is None


def test_a_missing_context_is_not_guessed(tmp_path: Path) -> None:
    assert credentials._simple_kubeconfig(write(tmp_path, {"token": "t"}), "elsewhere") is None


def test_the_contexts_namespace_is_the_default_namespace(tmp_path: Path) -> None:
    """What kubectl (and `kubectl taskops`) use without -n; none said: None (the caller picks `default`)."""
    path = write(tmp_path, {"token": "t"})
    assert credentials.from_kubeconfig(path).default_namespace is None
    doc = yaml.safe_load(Path(path).read_text())
    doc["contexts"].append({"name": "team", "context": {"cluster": "c", "user": "u", "namespace": "team-a"}})
    Path(path).write_text(yaml.safe_dump(doc))
    assert credentials.from_kubeconfig(path, context="team").default_namespace == "team-a"
    # Through the official client too (a basic-auth user is not read here).
    doc["users"][0]["user"] = {"username": "a", "password": "b"}
    Path(path).write_text(yaml.safe_dump(doc))
    (tmp_path / "ca.crt").write_text("a CA")
    assert credentials.from_kubeconfig(path, context="team").default_namespace == "team-a"
