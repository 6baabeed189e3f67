"""Fixtures on the real control plane: one cluster and one operator per session, a namespace per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from devcluster.cluster import Cluster
from tests.conftest import OUTPUT
from tests.integration.api import ApiProcess
from tests.integration.controlplane import OPERATOR_ARGS, prepare
from tests.integration.identities import chart_identities
from tests.integration.kube import Kube
from tests.integration.processes import OperatorProcess

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    c = Cluster(workdir=tmp_path_factory.mktemp("cluster"))
    c.start()
    try:
        prepare(c)
        yield c
    finally:
        c.stop()


@pytest.fixture(scope="session")
def kube(cluster: Cluster) -> Kube:
    return Kube(str(cluster.kubeconfig))


@pytest.fixture(scope="session")
def identities(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Kubeconfigs of the chart's operator and API service accounts: the processes run with its RBAC, no more."""
    return chart_identities(cluster, tmp_path_factory.mktemp("identities"))


@pytest.fixture(scope="session")
def operator_process(identities: dict[str, Path]) -> Iterator[OperatorProcess]:
    proc = OperatorProcess(identities["operator"], OUTPUT / "logs", args=OPERATOR_ARGS)
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="session")
def api_process(identities: dict[str, Path]) -> Iterator[ApiProcess]:
    proc = ApiProcess(identities["api"], OUTPUT / "logs")
    try:
        yield proc
    finally:
        proc.stop()
