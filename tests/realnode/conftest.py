"""Fixtures of the real-node tier: a control plane of its own with a real node (kubelet, containerd, runc;
devcluster/realnode.py) beside the kwok nodes. Package-scoped like tests/chaos, so it is gone before the
integration tests start theirs. It runs with `make e2e` and `make test` (TASKOPS_E2E=1)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from devcluster import taskops_image
from devcluster.cluster import Cluster
from tests.integration.api import ApiProcess
from tests.integration.controlplane import api_server, running_cluster, running_operator
from tests.integration.identities import chart_identities
from tests.integration.kube import Kube
from tests.integration.processes import OperatorProcess
from tests.paths import OUTPUT

LOGS = OUTPUT / "logs" / "realnode"
ENABLED = os.environ.get("TASKOPS_E2E") == "1"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    mine = [i for i, item in enumerate(items) if here in Path(str(item.fspath)).parents]
    if not ENABLED:
        skip = pytest.mark.skip(
            reason="the real-node tier runs with `make e2e` (TASKOPS_E2E=1; root, docs/realnode.md)"
        )
        for i in mine:
            items[i].add_marker(skip)
        return
    # test_chart.py installs the chart under the names the local processes' identities use: it goes first, before
    # any other module starts them, and its uninstall frees the names (a stable sort keeps each module's order).
    ordered = sorted((items[i] for i in mine), key=lambda item: Path(str(item.fspath)).name != "test_chart.py")
    for i, item in zip(mine, ordered, strict=True):
        items[i] = item


@pytest.fixture(scope="package")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    yield from running_cluster(tmp_path_factory.mktemp("realnode-cluster"), real_node=True)


@pytest.fixture(scope="package")
def kube(cluster: Cluster) -> Kube:
    return Kube(str(cluster.kubeconfig))


@pytest.fixture(scope="package")
def identities(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return chart_identities(cluster, tmp_path_factory.mktemp("realnode-identities"))


@pytest.fixture(scope="package")
def operator_process(identities: dict[str, Path]) -> Iterator[OperatorProcess]:
    yield from running_operator(identities["operator"], LOGS)


@pytest.fixture(scope="package")
def api_process(identities: dict[str, Path]) -> Iterator[ApiProcess]:
    yield from api_server(identities["api"], LOGS)


@pytest.fixture(scope="package")
def taskops_image_name(cluster: Cluster) -> str:
    """The taskops image built from the Dockerfile (cached), imported into the real node."""
    assert cluster.node is not None
    cluster.node.import_archive(taskops_image.build(LOGS / "image-build.log"))
    return taskops_image.NAME
