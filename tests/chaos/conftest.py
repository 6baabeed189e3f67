"""Fixtures of the chaos suite: a control plane of its own, since scenarios restart its API server and pause
its etcd. Package-scoped, so it is gone before the integration tests start theirs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from devcluster.cluster import Cluster
from tests.chaos.scale import SUMMARY
from tests.integration.api import ApiProcess
from tests.integration.controlplane import api_server, running_cluster, running_operator
from tests.integration.identities import chart_identities
from tests.integration.kube import Kube
from tests.integration.processes import OperatorProcess
from tests.paths import OUTPUT

LOGS = OUTPUT / "logs" / "chaos"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if SUMMARY:
        terminalreporter.write_sep("-", "chaos counts")
        for line in SUMMARY:
            terminalreporter.write_line(line)


@pytest.fixture(scope="package")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    yield from running_cluster(tmp_path_factory.mktemp("chaos-cluster"))


@pytest.fixture(scope="package")
def kube(cluster: Cluster) -> Kube:
    return Kube(str(cluster.kubeconfig))


@pytest.fixture(scope="package")
def identities(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return chart_identities(cluster, tmp_path_factory.mktemp("chaos-identities"))


@pytest.fixture(scope="package")
def operator_process(identities: dict[str, Path]) -> Iterator[OperatorProcess]:
    yield from running_operator(identities["operator"], LOGS)


@pytest.fixture(scope="package")
def api_process(identities: dict[str, Path]) -> Iterator[ApiProcess]:
    yield from api_server(identities["api"], LOGS)
