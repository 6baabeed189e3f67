"""Fixtures of the chaos suite: a control plane of its own, since scenarios restart its API server and pause
its etcd. Package-scoped, so it is gone before the integration tests start theirs."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from devcluster.cluster import Cluster
from tests.chaos.scale import SUMMARY
from tests.conftest import OUTPUT
from tests.integration.api import ApiProcess, Caller, full_access, service_account
from tests.integration.controlplane import OPERATOR_ARGS, prepare
from tests.integration.identities import chart_identities
from tests.integration.kube import Kube
from tests.integration.processes import OperatorProcess

LOGS = OUTPUT / "logs" / "chaos"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if SUMMARY:
        terminalreporter.write_sep("-", "chaos counts")
        for line in SUMMARY:
            terminalreporter.write_line(line)


@pytest.fixture(scope="package")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    c = Cluster(workdir=tmp_path_factory.mktemp("chaos-cluster"))
    c.start()
    try:
        prepare(c)
        yield c
    finally:
        c.stop()


@pytest.fixture(scope="package")
def kube(cluster: Cluster) -> Kube:
    return Kube(str(cluster.kubeconfig))


@pytest.fixture(scope="package")
def identities(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return chart_identities(cluster, tmp_path_factory.mktemp("chaos-identities"))


@pytest.fixture(scope="package")
def operator_process(identities: dict[str, Path]) -> Iterator[OperatorProcess]:
    proc = OperatorProcess(identities["operator"], LOGS, args=OPERATOR_ARGS)
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def operator(operator_process: OperatorProcess, request: pytest.FixtureRequest) -> Iterator[OperatorProcess]:
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


@pytest.fixture(scope="package")
def api_process(identities: dict[str, Path]) -> Iterator[ApiProcess]:
    proc = ApiProcess(identities["api"], LOGS)
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def api(
    cluster: Cluster, api_process: ApiProcess, operator: OperatorProcess, ns: str, request: pytest.FixtureRequest
) -> Iterator[Caller]:
    yield Caller(api_process.url, ns, service_account(cluster, ns, "caller", full_access()))
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        print(f"\n--- API log (tail) ---\n{api_process.tail()}")
