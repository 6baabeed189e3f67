"""Tasks of the real-node tier: busybox containers that run on the real node and nowhere else."""

from __future__ import annotations

from typing import Any

from devcluster import images, realnode
from tests import builders


def real_task(name: str, script: str, **spec: Any) -> dict[str, Any]:
    """A Task whose busybox container runs `script` with sh, on the real node and nowhere else."""
    task = builders.task(name, image=images.busybox_image().name, command=["sh", "-c", script], **spec)
    pod_spec = task["spec"]["payload"]["spec"]["template"]["spec"]
    pod_spec["nodeSelector"] = {realnode.LABEL[0]: realnode.LABEL[1]}
    pod_spec["tolerations"] = [realnode.TOLERATION]
    return task
