"""Shared benchmark plumbing: a fresh local control plane with the operator, and statistics."""

from __future__ import annotations

import contextlib
import json
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from devcluster.cluster import Cluster, spawn, stop_process
from taskops.clients import credentials
from taskops.clients.kube import KubeClient
from tests.integration.api import ApiProcess, full_access, service_account

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"


@contextlib.contextmanager
def cluster_with_operator(operator: bool = True, workers: int = 4) -> Iterator[Cluster]:
    with tempfile.TemporaryDirectory(prefix="taskops-bench-") as tmp:
        cluster = Cluster(workdir=Path(tmp), nodes=4)
        cluster.start()
        proc = None
        try:
            cluster.install_crds(REPO / "crds")
            if operator:
                proc = start_operator(cluster, workers)
            yield cluster
        finally:
            if proc is not None:
                stop_process(proc)
            cluster.stop()


@contextlib.contextmanager
def cluster_with_api(namespace: str) -> Iterator[tuple[Cluster, ApiProcess, str]]:
    """A fresh cluster with the operator and the API, a namespace, and a token with full rights in it."""
    with cluster_with_operator() as cluster:
        cluster.kubectl("create", "namespace", namespace)
        cluster.wait_namespace_ready(namespace)
        token = service_account(cluster, namespace, "bench", full_access())
        api_proc = ApiProcess(cluster.kubeconfig, cluster.logs)
        try:
            yield cluster, api_proc, token
        finally:
            api_proc.stop()


def start_operator(cluster: Cluster, workers: int = 4) -> subprocess.Popen[bytes]:
    """The operator as a real process against `cluster`, logging warnings only."""
    args = [
        sys.executable,
        "-m",
        "taskops.cli",
        "--log-level",
        "WARNING",
        "operator",
        "--kubeconfig",
        str(cluster.kubeconfig),
        "--workers",
        str(workers),
    ]
    return spawn("operator", args, cluster.logs, env={"PYTHONUNBUFFERED": "1"})


def client(cluster: Cluster, agent: str = "taskops-bench") -> KubeClient:
    return KubeClient(credentials.from_kubeconfig(str(cluster.kubeconfig)), user_agent=agent)


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50": percentile(values, 50),
        "p99": percentile(values, 99),
        "max": max(values) if values else float("nan"),
        "mean": statistics.fmean(values) if values else float("nan"),
    }


def save(name: str, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, default=str))
    return path
