"""Ask the API server who a bearer token belongs to (TokenReview) and what it may do (SubjectAccessReview)."""

from __future__ import annotations

from dataclasses import dataclass, field

from taskops.clients.kube import KubeClient
from taskops.clients.resources import Resource

TOKEN_REVIEWS = Resource("authentication.k8s.io", "v1", "tokenreviews")
SELF_REVIEWS = Resource("authentication.k8s.io", "v1", "selfsubjectreviews")
ACCESS_REVIEWS = Resource("authorization.k8s.io", "v1", "subjectaccessreviews")


@dataclass(frozen=True)
class User:
    name: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: dict[str, list[str]] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class Access:
    verb: str
    resource: str
    namespace: str
    group: str = "taskops.dev"
    name: str = ""
    subresource: str = ""


async def review_token(client: KubeClient, token: str) -> User | None:
    """The user the token authenticates as, or None when the API server does not accept it."""
    body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": token}}
    status = (await client.create(TOKEN_REVIEWS, None, body)).get("status") or {}
    if not status.get("authenticated"):
        return None
    user = status.get("user") or {}
    return User(
        name=str(user.get("username") or ""),
        uid=str(user.get("uid") or ""),
        groups=tuple(user.get("groups") or ()),
        extra={k: list(v) for k, v in (user.get("extra") or {}).items()},
    )


async def who_am_i(client: KubeClient) -> str | None:
    """The user the client's own credentials authenticate as (`kubectl auth whoami`); None if not told."""
    body = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
    info = ((await client.create(SELF_REVIEWS, None, body)).get("status") or {}).get("userInfo") or {}
    return str(info.get("username") or "") or None


async def review_access(client: KubeClient, user: User, access: Access) -> tuple[bool, str]:
    """(allowed, the authorizer's reason) for `user` doing `access`."""
    attributes = {
        "namespace": access.namespace,
        "verb": access.verb,
        "group": access.group,
        "resource": access.resource,
        "subresource": access.subresource,
        "name": access.name,
    }
    body = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {
            "user": user.name,
            "uid": user.uid,
            "groups": list(user.groups),
            "extra": user.extra,
            "resourceAttributes": {k: v for k, v in attributes.items() if v},
        },
    }
    status = (await client.create(ACCESS_REVIEWS, None, body)).get("status") or {}
    return bool(status.get("allowed")), str(status.get("reason") or "")
