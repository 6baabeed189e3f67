"""A startup step: make the release's webhook signing Secret when it does not exist (--webhook-secret-create)."""

from __future__ import annotations

import logging

from taskops.clients import errors, webhookkey
from taskops.clients.kube import KubeClient

log = logging.getLogger("taskops.webhooks")


async def ensure_release_key(client: KubeClient, namespace: str, name: str) -> None:
    """Every replica runs this before it campaigns for the lease; only the first create in the cluster makes a key.

    A refusal (no `create` right, no such namespace) is logged and the operator goes on: Tasks run, and each Run
    with a callback records `no-secret` in its webhook status until the Secret exists. An API server that stays
    unreachable ends the process (its restart tries again)."""
    try:
        made = await webhookkey.ensure(client, namespace, name)
    except errors.ApiError as exc:
        if exc.transient:
            raise
        log.error(
            "cannot create the webhook signing Secret %s/%s (%s); webhooks without their own key fail with "
            "no-secret until it exists: create it (key `secret`) or grant the operator `create` on secrets there",
            namespace,
            name,
            exc.reason or exc.status,
        )
        return
    if made.created:
        log.info("created the webhook signing Secret %s/%s with a new random key", namespace, name)
    elif made.key is None:
        log.error(
            "the webhook signing Secret %s/%s has no `%s` key; it is left as it is and webhooks without their own "
            "key fail with no-secret until the key is added",
            namespace,
            name,
            webhookkey.KEY_FIELD,
        )
