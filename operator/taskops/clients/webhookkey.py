"""The release's webhook signing key, made once by the operator when no Secret holds it and never changed after.

The chart renders no key (docs/gitops.md): `helm template` output must be a function of the values, or a GitOps tool
would rotate every receiver's key on every sync. Two replicas may start at once and either may crash at any point, so
the Secret is created whole in one request under its fixed name: the first create wins, a 409 AlreadyExists means
another replica (or an earlier start, or the user) made it, and its key is read, never replaced.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
import string
from dataclasses import dataclass
from typing import Any

import aiohttp

from taskops.clients import errors
from taskops.clients.kube import KubeClient
from taskops.clients.resources import SECRETS

KEY_FIELD = "secret"
# What the chart made before (randAlphaNum 48): about 285 bits, typed and pasted like any secret.
KEY_LENGTH = 48
ALPHABET = string.ascii_letters + string.digits
# Create or read, each try bounded by the client's timeout; a control plane still down after these is a restart.
ATTEMPTS = 5
FIRST_DELAY = 0.5


@dataclass(frozen=True)
class ReleaseKey:
    key: bytes | None  # None: the Secret exists without a `secret` key (left as it is)
    created: bool


def new_key() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(KEY_LENGTH))


def secret_body(namespace: str, name: str, key: str) -> dict[str, Any]:
    # No app.kubernetes.io/instance label: Argo CD tracks (and would prune) objects carrying its application's
    # instance label, and this Secret is not in Git. No owner either: it outlives the release (docs/gitops.md).
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {
                "app.kubernetes.io/name": "taskops",
                "app.kubernetes.io/component": "webhook-key",
                "app.kubernetes.io/managed-by": "taskops-operator",
            },
            "annotations": {
                "taskops.dev/purpose": "the release key completion webhooks are signed with (docs/webhooks.md); "
                "made once by the operator, never changed by it"
            },
        },
        "type": "Opaque",
        "data": {KEY_FIELD: base64.b64encode(key.encode()).decode()},
    }


def _key_of(secret: dict[str, Any]) -> bytes | None:
    value = (secret.get("data") or {}).get(KEY_FIELD)
    return base64.b64decode(value) if value else None


async def ensure(client: KubeClient, namespace: str, name: str) -> ReleaseKey:
    """The key in Secret namespace/name, made with a random key if the Secret does not exist.

    Raises errors.ApiError when the API refuses (Forbidden, the namespace missing) or is still unreachable
    after ATTEMPTS tries."""
    delay = FIRST_DELAY
    for attempt in range(1, ATTEMPTS + 1):
        last = attempt == ATTEMPTS
        try:
            try:
                made = await client.create(SECRETS, namespace, secret_body(namespace, name, new_key()))
                return ReleaseKey(_key_of(made), created=True)
            except errors.AlreadyExists:
                pass
            try:
                return ReleaseKey(_key_of(await client.get(SECRETS, namespace, name)), created=False)
            except errors.NotFound:
                # Deleted between our create's 409 and our read: create again.
                if last:
                    raise
        except errors.ApiError as exc:
            # Forbidden, a missing namespace, a refused body: retrying cannot help. A read's NotFound on the last
            # try arrives here too.
            if not exc.transient or last:
                raise
        except (aiohttp.ClientError, TimeoutError):
            if last:
                raise
        await asyncio.sleep(delay)
        delay *= 2
    raise AssertionError("unreachable")  # pragma: no cover
