"""Shared pytest setup: test reports kept on the item; one control plane, operator and API per session for the
integration and security suites; and the per-test fixtures (operator, ns, api) built on them. The chaos suite
overrides the session ones with a control plane of its own."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from devcluster.cluster import Cluster
from tests.integration.api import ApiProcess, Caller, full_access, service_account
from tests.integration.controlplane import api_server, running_cluster, running_operator
from tests.integration.identities import chart_identities
from tests.integration.kube import Kube
from tests.integration.processes import OperatorProcess
from tests.paths import OUTPUT


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[pytest.TestReport]:
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


# -- one control plane, operator and API per session, for tests/integration and tests/security -------------
# (tests/chaos overrides each with a package-scoped one of its own)


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    yield from running_cluster(tmp_path_factory.mktemp("cluster"))


@pytest.fixture(scope="session")
def kube(cluster: Cluster) -> Kube:
    return Kube(str(cluster.kubeconfig))


@pytest.fixture(scope="session")
def identities(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Kubeconfigs of the chart's operator and API service accounts: the processes run with its RBAC, no more."""
    return chart_identities(cluster, tmp_path_factory.mktemp("identities"))


@pytest.fixture(scope="session")
def operator_process(identities: dict[str, Path]) -> Iterator[OperatorProcess]:
    yield from running_operator(identities["operator"], OUTPUT / "logs")


@pytest.fixture(scope="session")
def api_process(identities: dict[str, Path]) -> Iterator[ApiProcess]:
    yield from api_server(identities["api"], OUTPUT / "logs")


@pytest.fixture
def operator(operator_process: OperatorProcess, request: pytest.FixtureRequest) -> Iterator[OperatorProcess]:
    """The session's operator, running; restarted if a test killed it; its log shown when a test fails."""
    if not operator_process.running():
        operator_process.start()
    yield operator_process
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        print(f"\n--- operator log (tail) ---\n{operator_process.tail()}")
    if not operator_process.running():
        operator_process.start()


@pytest.fixture
def ns(cluster: Cluster, request: pytest.FixtureRequest) -> Iterator[str]:
    name = re.sub(r"[^a-z0-9-]", "-", request.node.name.lower())[:40].strip("-") + "-" + uuid.uuid4().hex[:5]
    cluster.kubectl("create", "namespace", name)
    cluster.wait_namespace_ready(name)
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
def api(
    cluster: Cluster, api_process: ApiProcess, operator: OperatorProcess, ns: str, request: pytest.FixtureRequest
) -> Iterator[Caller]:
    """A caller of the API in the test's namespace whose service account may do anything taskops offers."""
    yield Caller(api_process.url, ns, service_account(cluster, ns, "caller", full_access()))
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        print(f"\n--- API log (tail) ---\n{api_process.tail()}")
