"""What every test control plane needs before the operator starts (the CRDs, the admission policies, and the webhook
signing secret), and the cluster, operator and API each suite's fixtures hold: one per session for the integration
and security suites, one per package for the chaos and real-node suites."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from devcluster import taskops_image
from devcluster.cluster import Cluster
from tests.integration.api import ApiProcess
from tests.integration.processes import OperatorProcess
from tests.paths import REPO

# The operator's release key is this secret (each namespace signs with a key derived from it). Loopback is
# denied like everything internal; the tests' receivers listen on 127.0.0.1, which the operator names as a
# receiver (as an operator names an in-cluster one); 127.0.0.2, ::1 and the rest of loopback stay denied.
WEBHOOK_SECRET = ("taskops-system", "taskops-webhook")
WEBHOOK_KEY = b"test-signing-key"
RECEIVER_ADDRESS = "127.0.0.1"
OPERATOR_ARGS = (
    f"--webhook-secret={WEBHOOK_SECRET[0]}/{WEBHOOK_SECRET[1]}",
    f"--webhook-allow={RECEIVER_ADDRESS}",
    "--webhook-backoff-seconds=0.5",
    "--webhook-max-backoff-seconds=4",
    # Batch pods get their own input as params (docs/batch.md): the image the real node imports (kwok runs no
    # container), and env vars from the file it writes (devcluster enables EnvFiles).
    f"--batch-init-image={taskops_image.NAME}",
    "--batch-env-files",
)


def prepare(c: Cluster) -> None:
    c.install_crds(REPO / "crds")
    # The non-Helm admission policies (docs/security.md): they trust taskops-system's taskops-operator and
    # taskops-api, the identities the session's processes run as (tests/integration/identities.py).
    c.kubectl("apply", "-f", str(REPO / "crds" / "policies"))
    c.kubectl("create", "namespace", WEBHOOK_SECRET[0])
    c.kubectl("create", "secret", "generic", WEBHOOK_SECRET[1], "-n", WEBHOOK_SECRET[0],
              f"--from-literal=secret={WEBHOOK_KEY.decode()}")  # fmt: skip


def running_cluster(workdir: Path, real_node: bool = False) -> Iterator[Cluster]:
    c = Cluster(workdir=workdir, real_node=real_node)
    c.start()
    try:
        prepare(c)
        yield c
    finally:
        c.stop()


def running_operator(kubeconfig: Path, logs: Path) -> Iterator[OperatorProcess]:
    proc = OperatorProcess(kubeconfig, logs, args=OPERATOR_ARGS)
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


def api_server(kubeconfig: Path, logs: Path, name: str = "api", *args: str) -> Iterator[ApiProcess]:
    """An API process (`args`: its flags), started by the first test that asks for it, stopped after the last."""
    proc = ApiProcess(kubeconfig, logs, name, args)
    try:
        yield proc
    finally:
        proc.stop()
