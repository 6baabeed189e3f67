"""Where the cluster is and how to authenticate: kubeconfig or in-cluster service account."""

from __future__ import annotations

import base64
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

SA_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


@dataclass(frozen=True)
class Credentials:
    server: str
    ca_path: str | None = None
    cert_path: str | None = None
    key_path: str | None = None
    token: str | None = None
    # In-cluster tokens rotate: read the file again rather than keeping the first token.
    token_path: str | None = None
    insecure: bool = False
    default_namespace: str | None = None

    def bearer(self) -> str | None:
        if self.token_path:
            return Path(self.token_path).read_text().strip()
        return self.token


def in_cluster() -> Credentials:
    host, port = os.environ["KUBERNETES_SERVICE_HOST"], os.environ["KUBERNETES_SERVICE_PORT"]
    if ":" in host:
        host = f"[{host}]"
    ns_file = SA_DIR / "namespace"
    return Credentials(
        server=f"https://{host}:{port}",
        ca_path=str(SA_DIR / "ca.crt"),
        token_path=str(SA_DIR / "token"),
        default_namespace=ns_file.read_text().strip() if ns_file.exists() else None,
    )


def from_kubeconfig(path: str | None = None, context: str | None = None) -> Credentials:
    """Credentials from a kubeconfig: the common forms read here, the rest (exec plugins, auth
    providers, merged KUBECONFIG lists) by the official client, whose import costs ~35 MB of memory."""
    simple = _simple_kubeconfig(path, context)
    if simple is not None:
        return simple
    from kubernetes import client, config

    cfg = client.Configuration()
    config.load_kube_config(config_file=path, context=context, client_configuration=cfg)  # type: ignore[no-untyped-call]
    token = (cfg.api_key or {}).get("authorization") or (cfg.api_key or {}).get("BearerToken")
    if token and token.lower().startswith("bearer "):
        token = token[len("bearer ") :]
    contexts, active = config.list_kube_config_contexts(config_file=path)  # type: ignore[no-untyped-call]
    if context:
        active = next((c for c in contexts if c.get("name") == context), None)
    return Credentials(
        server=cfg.host,
        ca_path=cfg.ssl_ca_cert,
        cert_path=cfg.cert_file,
        key_path=cfg.key_file,
        token=token,
        insecure=not cfg.verify_ssl,
        default_namespace=((active or {}).get("context") or {}).get("namespace"),
    )


_SIMPLE_USER_KEYS = {"token", "client-certificate", "client-certificate-data", "client-key", "client-key-data"}


def _named(items: list[dict[str, Any]] | None, name: str | None, field: str) -> dict[str, Any] | None:
    found = next((i for i in items or [] if i.get("name") == name), None)
    return (found or {}).get(field) if found is not None else None


def _simple_kubeconfig(path: str | None, context: str | None) -> Credentials | None:
    """A single kubeconfig file whose user is a token or a client certificate; None for anything else."""
    env = os.environ.get("KUBECONFIG")
    if path is None and env and os.pathsep in env:
        return None
    file = Path(path or env or Path.home() / ".kube" / "config").expanduser()
    try:
        doc = yaml.safe_load(file.read_text())
    except (OSError, yaml.YAMLError):
        return None  # the official client says what is wrong with it
    if not isinstance(doc, dict):
        return None
    ctx = _named(doc.get("contexts"), context or doc.get("current-context"), "context")
    cluster = _named(doc.get("clusters"), (ctx or {}).get("cluster"), "cluster")
    user = _named(doc.get("users"), (ctx or {}).get("user"), "user") or {}
    if not ctx or not cluster or not cluster.get("server") or not set(user) <= _SIMPLE_USER_KEYS:
        return None

    def file_of(key: str) -> str | None:
        """A path as written (relative to the kubeconfig's folder), or inline data put in a private file."""
        source = {**cluster, **user}
        if source.get(f"{key}-data"):
            with tempfile.NamedTemporaryFile("wb", prefix="taskops-kubeconfig-", delete=False) as out:
                out.write(base64.b64decode(source[f"{key}-data"]))
            return out.name
        value = source.get(key)
        return str(file.parent / value) if value else None

    return Credentials(
        server=str(cluster["server"]),
        ca_path=file_of("certificate-authority"),
        cert_path=file_of("client-certificate"),
        key_path=file_of("client-key"),
        token=user.get("token"),
        insecure=bool(cluster.get("insecure-skip-tls-verify")),
        # The context's namespace: what kubectl (and `kubectl taskops`) use when no -n is given.
        default_namespace=ctx.get("namespace"),
    )


def load(kubeconfig: str | None = None, context: str | None = None) -> Credentials:
    """An explicit kubeconfig wins; in a pod without one, the service account is used."""
    if kubeconfig or os.environ.get("KUBECONFIG") or not os.environ.get("KUBERNETES_SERVICE_HOST"):
        return from_kubeconfig(kubeconfig, context)
    return in_cluster()
