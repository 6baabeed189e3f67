"""Run the operator and the API the way the chart does: as its ServiceAccounts, with exactly its RBAC.

The chart's ServiceAccounts and RBAC objects are rendered with `helm template`
and applied; each process then gets a kubeconfig carrying its service
account's token, so every integration test also proves the chart's rules are
enough (and a missing verb fails a test, not a production install).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from devcluster import build
from devcluster.cluster import Cluster
from tests.paths import REPO

RELEASE = "taskops"
NAMESPACE = "taskops-system"


def render_rbac(namespace: str = NAMESPACE, *values: str) -> str:
    args = [str(build.binary("helm")), "template", RELEASE, str(REPO / "charts" / "taskops"), "--namespace", namespace]
    args += ["--show-only", "templates/serviceaccounts.yaml", "--show-only", "templates/rbac.yaml"]
    for value in values:
        args += ["--set", value]
    return subprocess.run(args, capture_output=True, text=True, check=True).stdout


def kubeconfig_for(cluster: Cluster, account: str, namespace: str, path: Path) -> Path:
    token = cluster.kubectl("create", "token", account, "-n", namespace, "--duration=6h").strip()
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "c",
                "cluster": {"server": cluster.server, "certificate-authority": str(cluster.workdir / "pki" / "ca.crt")},
            }
        ],
        "users": [{"name": account, "user": {"token": token}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": account, "namespace": namespace}}],
        "current-context": "c",
    }
    path.write_text(yaml.safe_dump(config))
    return path


def chart_identities(cluster: Cluster, workdir: Path) -> dict[str, Path]:
    """{"operator": kubeconfig, "api": kubeconfig} for the chart's two service accounts."""
    cluster.kubectl("create", "namespace", NAMESPACE, check=False)
    cluster.kubectl("apply", "-f", "-", input=render_rbac())
    return {
        part: kubeconfig_for(cluster, f"{RELEASE}-{part}", NAMESPACE, workdir / f"{part}.kubeconfig")
        for part in ("operator", "api")
    }
