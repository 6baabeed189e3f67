"""What every test control plane needs before the operator starts: the CRDs, the admission policies, and the webhook
signing secret."""

from __future__ import annotations

from devcluster.cluster import Cluster
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
)


def prepare(c: Cluster) -> None:
    c.install_crds(REPO / "crds")
    # The non-Helm admission policies (docs/security.md): they trust taskops-system's taskops-operator and
    # taskops-api, the identities the session's processes run as (tests/integration/identities.py).
    c.kubectl("apply", "-f", str(REPO / "crds" / "policies"))
    c.kubectl("create", "namespace", WEBHOOK_SECRET[0])
    c.kubectl("create", "secret", "generic", WEBHOOK_SECRET[1], "-n", WEBHOOK_SECRET[0],
              f"--from-literal=secret={WEBHOOK_KEY.decode()}")  # fmt: skip
