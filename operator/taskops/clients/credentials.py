"""Where the cluster is and how to authenticate: kubeconfig or in-cluster service account."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

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
    # The official client resolves every kubeconfig form (files, inline data, exec plugins).
    from kubernetes import client, config

    cfg = client.Configuration()
    config.load_kube_config(config_file=path, context=context, client_configuration=cfg)  # type: ignore[no-untyped-call]
    token = (cfg.api_key or {}).get("authorization") or (cfg.api_key or {}).get("BearerToken")
    if token and token.lower().startswith("bearer "):
        token = token[len("bearer ") :]
    return Credentials(
        server=cfg.host,
        ca_path=cfg.ssl_ca_cert,
        cert_path=cfg.cert_file,
        key_path=cfg.key_file,
        token=token,
        insecure=not cfg.verify_ssl,
    )


def load(kubeconfig: str | None = None, context: str | None = None) -> Credentials:
    """An explicit kubeconfig wins; in a pod without one, the service account is used."""
    if kubeconfig or os.environ.get("KUBECONFIG") or not os.environ.get("KUBERNETES_SERVICE_HOST"):
        return from_kubeconfig(kubeconfig, context)
    return in_cluster()
