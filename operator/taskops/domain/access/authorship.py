"""What writing a Task, Agent or Run asks of its author's own rights (docs/security.md, section 1).

The same rules as the admission policies of taskops.policies, for the writes the
API does on a caller's behalf (the policies see the API's service account there,
so the API checks its caller first with SubjectAccessReviews):

- a Task's payload or an Agent's jobDefaults shape the pods of the Jobs the
  operator creates: writing them needs `create jobs` in the namespace;
- naming a service account other than `default` needs `impersonate` on it, or
  `use` on `serviceaccounts.taskops.dev` of that name;
- naming an Agent in a Task or a Run needs `use` on that Agent;
- naming a Secret in a Task's webhookSecret (the operator signs with its key)
  needs `get` on that Secret.

A change that leaves the pod-shaping fields as they were (a schedule, a state)
asks for nothing beyond the right to make it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from taskops import GROUP

DEFAULT_ACCOUNT = "default"


@dataclass(frozen=True)
class Right:
    verb: str
    group: str
    resource: str
    name: str = ""

    def __str__(self) -> str:
        resource = f"{self.resource}.{self.group}" if self.group else self.resource
        return f'{self.verb} {resource} "{self.name}"' if self.name else f"{self.verb} {resource}"


@dataclass(frozen=True)
class Need:
    """One right the author must hold: any of `rights` will do."""

    location: str
    value: Any
    why: str
    rights: tuple[Right, ...]


CREATE_JOBS = Right("create", "batch", "jobs")


def account_rights(name: str) -> tuple[Right, ...]:
    # Impersonation is exactly the power a pod running as the account gives (its token is in the pod);
    # `use` on serviceaccounts.taskops.dev grants it through taskops only.
    return (Right("impersonate", "", "serviceaccounts", name), Right("use", GROUP, "serviceaccounts", name))


def agent_need(agent: str | None, location: str) -> list[Need]:
    if not agent:
        return []
    why = "an Agent's jobDefaults (service account, node selector, tolerations) shape its Runs' pods"
    return [Need(location, agent, why, (Right("use", GROUP, "agents", agent),))]


def _pod_spec(payload: Any) -> dict[str, Any]:
    spec = payload.get("spec") if isinstance(payload, dict) else None
    template = spec.get("template") if isinstance(spec, dict) else None
    pod = template.get("spec") if isinstance(template, dict) else None
    return pod if isinstance(pod, dict) else {}


def task_needs(spec: dict[str, Any], old: dict[str, Any] | None, location: str) -> list[Need]:
    """What writing a Task's `spec` (camelCase; `old`: the stored one on an update) needs; fields under `location`.

    A field asks for its right only when this write sets or changes it: an unchanged one was judged when written.
    """
    before = old if old is not None else {}
    needs: list[Need] = []
    if old is None or spec.get("payload") != before.get("payload"):
        why = "a Task's payload is the Job taskops creates for each Run"
        needs.append(Need(f"{location}.payload", None, why, (CREATE_JOBS,)))
        pod = _pod_spec(spec.get("payload"))
        for field in ("serviceAccountName", "serviceAccount"):
            name = pod.get(field)
            if name and name != DEFAULT_ACCOUNT:
                where = f"{location}.payload.spec.template.spec.{field}"
                why = "the Job's pods would run as this service account"
                needs.append(Need(where, name, why, account_rights(str(name))))
    if old is None or spec.get("agent") != before.get("agent"):
        needs += agent_need(spec.get("agent"), f"{location}.agent")
    secret = spec.get("webhookSecret")
    if secret and (old is None or secret != before.get("webhookSecret")):
        why = "the operator signs this task's webhooks with that Secret's key"
        needs.append(Need(f"{location}.webhook_secret", secret, why, (Right("get", "", "secrets", str(secret)),)))
    return needs
