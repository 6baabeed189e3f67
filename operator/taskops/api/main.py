"""`taskops api`: serve the REST API until SIGTERM."""

from __future__ import annotations

import logging
import resource

from aiohttp import web

from taskops.api.app import make_app
from taskops.api.auth import Authorizer
from taskops.api.cache import Cache
from taskops.api.context import Services
from taskops.api.limits import Limits
from taskops.clients import credentials
from taskops.clients.kube import KubeClient

log = logging.getLogger(__name__)


def _raise_fd_limit() -> None:
    """Each waiting caller holds a socket: allow as many as the hard limit permits."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def serve(
    host: str,
    port: int,
    namespace: str | None,
    default_namespace: str,
    kubeconfig: str | None,
    limits: Limits | None = None,
) -> None:
    _raise_fd_limit()
    limits = limits or Limits()
    client = KubeClient(credentials.load(kubeconfig), user_agent="taskops-api", stream_connections=limits.max_streams)
    svc = Services(
        client=client,
        cache=Cache(client, namespace),
        auth=Authorizer(client, limits),
        default_namespace=namespace or default_namespace,
        only_namespace=namespace,
    )
    log.info("taskops API on %s:%d (namespace: %s)", host, port, namespace or "all")
    web.run_app(make_app(svc, limits), host=host, port=port, print=None, access_log=None)
