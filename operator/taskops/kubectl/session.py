"""One command's connection to the cluster: the user's kubeconfig, context and namespace, and the lookups
every command shares (a Task by the name people use for it, a Run)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from taskops.clients import credentials
from taskops.clients.errors import NotFound
from taskops.clients.kube import KubeClient
from taskops.clients.resources import RUNS, TASKS
from taskops.domain.resources import apinames, numericids
from taskops.domain.resources.clock import SYSTEM, Clock

USER_AGENT = "kubectl-taskops"


class CliError(Exception):
    """A failure the user can act on: printed as `error: ...`, exits with `code`."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class Session:
    client: KubeClient
    namespace: str
    # Wall time, the one clock every component is given (domain/resources/clock.py): a test passes a fake one.
    clock: Clock = field(default=SYSTEM)

    @staticmethod
    def open(kubeconfig: str | None, context: str | None, namespace: str | None) -> Session:
        try:
            creds = credentials.load(kubeconfig, context)
        except Exception as exc:  # the official client's ConfigException, a missing file: all "no cluster"
            raise CliError(f"cannot use the kubeconfig: {exc}") from exc
        return Session(KubeClient(creds, USER_AGENT), namespace or creds.default_namespace or "default")

    def now(self) -> dt.datetime:
        return self.clock()

    async def task(self, ident: str) -> dict[str, Any]:
        """A Task by the name the API uses (a seed 002 name like `etl:nightly`) or its object name."""
        object_name = apinames.task_object_name(ident)
        try:
            found = await self.client.get(TASKS, self.namespace, object_name)
        except NotFound:
            raise CliError(f'task "{ident}" not found in namespace "{self.namespace}"') from None
        meta = found["metadata"]
        api_name = apinames.task_api_name(meta["name"], meta.get("annotations"))
        if ident not in (api_name, meta["name"]):
            # The same refusal as the API's: two names never address one Task (see apinames).
            raise CliError(f'"{ident}" maps to task object "{meta["name"]}", which is "{api_name}"')
        return found

    async def run(self, name: str) -> dict[str, Any]:
        """A Run by name, or by the integer id the REST API answers (seed 003's task_run_id): that one costs a
        LIST of the namespace's Runs, made only when no Run has the name."""
        try:
            return await self.client.get(RUNS, self.namespace, name)
        except NotFound:
            pass
        number = numericids.parse(name)
        found = []
        if number is not None:
            found = [r for r in await self.client.list(RUNS, self.namespace) if numericids.of(r) == number]
        if len(found) > 1:
            both = " and ".join(f'"{r["metadata"]["name"]}"' for r in found)
            raise CliError(f'"{name}" is the integer id of more than one run: {both}; name the run')
        if not found:
            raise CliError(f'run "{name}" not found in namespace "{self.namespace}"')
        return found[0]
