"""The REST API as a real process, and callers with real service-account tokens bound by real RBAC."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from devcluster.cluster import Cluster, free_port, spawn, stop_process
from tests import builders


class ApiProcess:
    def __init__(self, kubeconfig: Path, logs: Path, name: str = "api", args: tuple[str, ...] = ()) -> None:
        self.kubeconfig = kubeconfig
        self.logs = logs
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = spawn(
            name,
            [
                sys.executable, "-m", "taskops.cli", "api",
                "--host", "127.0.0.1", "--port", str(self.port), "--kubeconfig", str(kubeconfig), *args,
            ],
            logs,
            env={"PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            assert self.proc.poll() is None, (logs / f"{name}.log").read_text()
            time.sleep(0.1)
        raise AssertionError("API not ready in 30s")

    def stop(self) -> None:
        stop_process(self.proc)

    def tail(self, lines: int = 60) -> str:
        log = self.logs / f"{self.name}.log"
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) if log.exists() else ""


@dataclass
class Caller:
    """An HTTP client for the API carrying one service account's token."""

    base: str
    namespace: str
    token: str | None

    def request(self, method: str, path: str, **kw: Any) -> requests.Response:
        headers = dict(kw.pop("headers", {}) or {})
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        params = dict(kw.pop("params", {}) or {})
        params.setdefault("namespace", self.namespace)
        return requests.request(method, self.base + path, headers=headers, params=params, timeout=60, **kw)

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> requests.Response:
        return self.request("POST", path, **kw)

    def put(self, path: str, **kw: Any) -> requests.Response:
        return self.request("PUT", path, **kw)

    def delete(self, path: str, **kw: Any) -> requests.Response:
        return self.request("DELETE", path, **kw)


ALL_VERBS = ["get", "list", "watch", "create", "update", "patch", "delete"]


def service_account(cluster: Cluster, ns: str, name: str, rules: list[dict[str, Any]] | None) -> str:
    """A ServiceAccount in `ns`, bound to a Role with `rules` (none: no permissions); returns its token."""
    cluster.kubectl("create", "serviceaccount", name, "-n", ns)
    if rules is not None:
        role = {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": name, "namespace": ns},
            "rules": rules,
        }
        binding = {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": name, "namespace": ns},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": ns}],
        }
        items = {"apiVersion": "v1", "kind": "List", "items": [role, binding]}
        cluster.kubectl("apply", "-f", "-", input=json.dumps(items))
    return cluster.kubectl("create", "token", name, "-n", ns, "--duration=1h").strip()


def full_access() -> list[dict[str, Any]]:
    """Everything taskops offers, with what its writes need besides (docs/security.md): Jobs, any Agent."""
    return [
        {"apiGroups": ["taskops.dev"], "resources": ["tasks", "runs"], "verbs": ALL_VERBS},
        {"apiGroups": ["taskops.dev"], "resources": ["agents"], "verbs": ["list", "use"]},
        {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create"]},
        {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
    ]


# --- requests and answers ----------------------------------------------------------------------------------

PROBLEM = "application/problem+json"


def task_body(name: str | None = None, **fields: Any) -> dict[str, Any]:
    """The body of a POST /api/v1/tasks (seed 001 field names); `fields` are added."""
    payload = builders.task("x")["spec"]["payload"]
    body = {"title": f"task {name}", "description": "made by a test", "payload": payload, **fields}
    if name:
        body["name"] = name
    return body


def assert_problem(resp: Any, status: int, location: str | None = None) -> dict[str, Any]:
    """`resp` is an RFC 9457 problem with `status`, naming `location` among its errors if given; returns it."""
    assert resp.status_code == status, resp.text
    assert resp.headers["Content-Type"].startswith(PROBLEM), resp.headers
    problem = resp.json()
    assert problem["status"] == status and problem["title"] and "instance" in problem, problem
    if location:
        assert any(e["location"] == location for e in problem["errors"]), problem
    return dict(problem)


def make_task(api: Caller, name: str, pods: dict[str, str] | None = None, **fields: Any) -> dict[str, Any]:
    """Creates Task `name` through the API (its pods behave as the kwok annotations `pods` say); returns it."""
    body = task_body(name, **fields)
    body["payload"] = builders.task("x", pod_annotations=pods or {})["spec"]["payload"]
    resp = api.post("/api/v1/tasks", json=body)
    assert resp.status_code == 201, resp.text
    return dict(resp.json())
