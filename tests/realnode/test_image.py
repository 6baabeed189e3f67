"""The taskops image, built from the repository's Dockerfile with buildah (devcluster/taskops_image.py), imported
into the real node and run there the way the chart runs it: non-root, read-only root file system, no privileges."""

from __future__ import annotations

import json

from devcluster import realnode
from devcluster.cluster import Cluster
from tests.integration.kube import wait_for


def test_the_image_runs_on_the_real_node_as_the_chart_runs_it(
    cluster: Cluster, taskops_image_name: str, ns: str
) -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "taskops-help", "namespace": ns},
        "spec": {
            "restartPolicy": "Never",
            "nodeSelector": {realnode.LABEL[0]: realnode.LABEL[1]},
            "tolerations": [realnode.TOLERATION],
            "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [
                {
                    "name": "taskops",
                    "image": taskops_image_name,
                    "imagePullPolicy": "Never",
                    # The image's own user (USER 10001:10001) is what runAsNonRoot admits; then its entrypoint.
                    "command": ["sh", "-c", "id -u && exec taskops --help"],
                    "securityContext": {
                        "readOnlyRootFilesystem": True,
                        "allowPrivilegeEscalation": False,
                        "capabilities": {"drop": ["ALL"]},
                    },
                    "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
                }
            ],
            "volumes": [{"name": "tmp", "emptyDir": {}}],
        },
    }
    cluster.kubectl("apply", "-f", "-", input=json.dumps(pod))

    def ended() -> dict[str, object] | None:
        got = json.loads(cluster.kubectl("get", "pod", "-n", ns, "taskops-help", "-o", "json"))
        return got if got["status"].get("phase") in ("Succeeded", "Failed") else None

    got = wait_for(ended, 90, what="the taskops pod to end")
    state = got["status"]["containerStatuses"][0]["state"]  # type: ignore[index]
    assert got["status"]["phase"] == "Succeeded", state  # type: ignore[index]
    out = cluster.kubectl("logs", "-n", ns, "taskops-help")
    assert out.splitlines()[0] == "10001", out
    assert "operator" in out and "api" in out, out
