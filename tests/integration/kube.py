"""Test-side access to the real API server: the official client, plus waiting helpers."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from kubernetes import client, config
from kubernetes.client.rest import ApiException

T = TypeVar("T")
GROUP, VERSION = "taskops.dev", "v1alpha1"


def wait_for(fn: Callable[[], T | None], timeout: float = 30.0, interval: float = 0.2, what: str = "") -> T:
    """Call `fn` until it returns something truthy; fail with the last value after `timeout`."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or fn}; last value: {last!r}")


class Kube:
    def __init__(self, kubeconfig: str) -> None:
        self.api = config.new_client_from_config(config_file=kubeconfig)
        self.custom = client.CustomObjectsApi(self.api)
        self.batch = client.BatchV1Api(self.api)
        self.core = client.CoreV1Api(self.api)
        self.apps = client.AppsV1Api(self.api)

    # -- taskops objects ------------------------------------------------------------

    def create(self, namespace: str, obj: dict[str, Any]) -> dict[str, Any]:
        plural = {"Task": "tasks", "Run": "runs", "Agent": "agents"}[obj["kind"]]
        return dict(self.custom.create_namespaced_custom_object(GROUP, VERSION, namespace, plural, obj))

    def get(self, namespace: str, plural: str, name: str) -> dict[str, Any] | None:
        try:
            return dict(self.custom.get_namespaced_custom_object(GROUP, VERSION, namespace, plural, name))
        except ApiException as e:
            if e.status == 404:
                return None
            raise

    def run(self, namespace: str, name: str) -> dict[str, Any]:
        obj = self.get(namespace, "runs", name)
        assert obj is not None, f"run {namespace}/{name} does not exist"
        return obj

    def runs(self, namespace: str) -> list[dict[str, Any]]:
        return list(self.custom.list_namespaced_custom_object(GROUP, VERSION, namespace, "runs")["items"])

    def delete(self, namespace: str, plural: str, name: str) -> None:
        self.custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, plural, name)

    def wait_run_phase(self, namespace: str, name: str, phases: set[str], timeout: float = 60.0) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            run = self.get(namespace, "runs", name)
            return run if run and (run.get("status") or {}).get("phase") in phases else None

        return wait_for(check, timeout, what=f"run {name} to reach {phases}")

    # -- Kubernetes objects -------------------------------------------------------

    def jobs(self, namespace: str) -> list[Any]:
        return list(self.batch.list_namespaced_job(namespace).items)

    def events_for(self, namespace: str, name: str) -> list[Any]:
        evs = self.core.list_namespaced_event(namespace, field_selector=f"involvedObject.name={name}").items
        return list(evs)
