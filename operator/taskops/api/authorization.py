"""The caller's own rights for what a write would let the operator do (docs/security.md, section 1).

The admission policies judge kubectl and GitOps writes by their requesting
user; for the API's writes that user is the API's service account, so the API
asks the same questions about its caller here (SubjectAccessReviews, cached by
the Authorizer) before it writes, and answers 403 naming the right that is missing.
"""

from __future__ import annotations

from aiohttp import web

from taskops.api.context import services
from taskops.api.problems import Problem
from taskops.clients.reviews import Access, User
from taskops.domain.access.authorship import Need, Right
from taskops.domain.resources.params import FieldError

FORBIDDEN = "https://taskops.dev/problems/forbidden"


async def allowed(request: web.Request, user: User, ns: str, right: Right) -> bool:
    """Whether `user` holds `right` in `ns` (a SubjectAccessReview, cached by the Authorizer)."""
    access = Access(right.verb, right.resource, ns, group=right.group, name=right.name)
    try:
        await services(request).auth.authorize(user, access)
    except Problem as exc:
        if exc.status == 403:
            return False
        raise
    return True


async def require(request: web.Request, user: User, ns: str, needs: list[Need]) -> None:
    """Every need met by one of its rights, or 403 naming the first that is not (and why it is asked for)."""
    for need in needs:
        for right in need.rights:
            if await allowed(request, user, ns, right):
                break
        else:
            missing = " nor ".join(str(r) for r in need.rights)
            detail = f'user "{user.name}" may not {missing} in namespace "{ns}": {need.why} ({need.location})'
            raise Problem(403, "Forbidden", detail, [FieldError(need.location, need.why, need.value)], FORBIDDEN)


async def require_on_run(request: web.Request, user: User, ns: str, name: str, verbs: tuple[str, ...]) -> None:
    """`verbs` on the Run `name` itself (so RBAC's resourceNames count), e.g. reading and patching it to resume it."""
    auth = services(request).auth
    for verb in verbs:
        await auth.authorize(user, Access(verb, "runs", ns, name=name))
