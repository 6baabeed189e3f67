"""Small builders for test objects (instead of copied YAML)."""

from __future__ import annotations

from typing import Any

API = "taskops.dev/v1alpha1"


def pod_behaviour(
    duration: str | None = None,
    exit_code: int | None = None,
    reason: str | None = None,
    message: str | None = None,
    hang: bool = False,
) -> dict[str, str]:
    """kwok annotations that decide what the fake pod does (see devcluster/stages.yaml)."""
    ann: dict[str, str] = {}
    if duration:
        ann["kwok.taskops.dev/duration"] = duration
    if exit_code is not None:
        ann["kwok.taskops.dev/exit-code"] = str(exit_code)
    if reason:
        ann["kwok.taskops.dev/reason"] = reason
    if message is not None:
        ann["kwok.taskops.dev/message"] = message
    if hang:
        ann["kwok.taskops.dev/hang"] = "true"
    return ann


def task(
    name: str,
    image: str = "busybox:1.36",
    command: list[str] | None = None,
    pod_annotations: dict[str, str] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "main", "image": image}
    if command:
        container["command"] = command
    return {
        "apiVersion": API,
        "kind": "Task",
        "metadata": {"name": name},
        "spec": {
            "title": f"test task {name}",
            "payload": {
                "spec": {
                    "template": {
                        "metadata": {"annotations": pod_annotations or {}},
                        "spec": {"containers": [container]},
                    }
                }
            },
            **spec,
        },
    }


def run(name: str, task_name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "Run",
        "metadata": {"name": name},
        "spec": {"taskRef": {"name": task_name}, **spec},
    }
