"""Shared pytest setup: test reports kept on the item, and the per-test fixtures of the integration and chaos
suites. Those request `cluster`, `operator_process` and `api_process`, which each suite's conftest provides
(one control plane per session for the integration tests, one of its own for the chaos suite)."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from devcluster.cluster import Cluster
from tests.integration.api import ApiProcess, Caller, full_access, service_account
from tests.integration.processes import OperatorProcess

REPO = Path(__file__).resolve().parents[1]
OUTPUT = Path(os.environ.get("TASKOPS_TEST_OUTPUT", REPO / "test-output"))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[pytest.TestReport]:
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


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
