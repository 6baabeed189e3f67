"""What every test control plane needs before the operator starts: the CRDs, the admission policies, and the webhook
signing secret."""

from __future__ import annotations

from devcluster.cluster import Cluster
from tests.paths import REPO

# The operator signs webhooks with this secret; loopback receivers are allowed, link-local is not.
WEBHOOK_SECRET = ("taskops-system", "taskops-webhook")
WEBHOOK_KEY = b"test-signing-key"
OPERATOR_ARGS = (
    f"--webhook-secret={WEBHOOK_SECRET[0]}/{WEBHOOK_SECRET[1]}",
    "--webhook-deny=169.254.0.0/16",
    "--webhook-backoff-seconds=0.5",
    "--webhook-max-backoff-seconds=4",
)


def prepare(c: Cluster) -> None:
    c.install_crds(REPO / "crds")
    # The non-Helm admission policies (docs/security.md): they trust taskops-system's taskops-operator and
    # taskops-api, the identities the session's processes run as (tests/integration/identities.py).
    c.kubectl("apply", "-f", str(REPO / "crds" / "policies"))
    c.kubectl("create", "namespace", WEBHOOK_SECRET[0])
    c.kubectl("create", "secret", "generic", WEBHOOK_SECRET[1], "-n", WEBHOOK_SECRET[0],
              f"--from-literal=secret={WEBHOOK_KEY.decode()}")  # fmt: skip
