"""What every handler needs: the services, the caller, the namespace, a validated body, JSON out."""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from taskops.api import bodies
from taskops.api.auth import Authorizer
from taskops.api.cache import Cache
from taskops.api.problems import Problem, from_validation, invalid
from taskops.clients.kube import KubeClient
from taskops.clients.reviews import Access, User
from taskops.domain.resources import jsonbounds
from taskops.domain.resources.clock import SYSTEM, Clock
from taskops.domain.resources.params import FieldError

M = TypeVar("M", bound=BaseModel)
_NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


@dataclass
class Services:
    client: KubeClient
    cache: Cache
    auth: Authorizer
    default_namespace: str
    # Set when the API serves one namespace only.
    only_namespace: str | None = None
    clock: Clock = field(default=SYSTEM)

    def now(self) -> dt.datetime:
        return self.clock()


SERVICES = web.AppKey("services", Services)
# Set on a request that came in on a seed's own path (api/seed_routes.py): the seed, e.g. "002".
SEED = web.RequestKey("seed", str)


def services(request: web.Request) -> Services:
    return request.app[SERVICES]


def seed_of(request: web.Request) -> str | None:
    """The seed whose own path the request came in on (None: an /api/v1 path); see api/seed_routes.py."""
    return request.get(SEED)


def namespace(request: web.Request) -> str:
    svc = services(request)
    ns = request.query.get("namespace") or svc.default_namespace
    if not _NAMESPACE.match(ns) or len(ns) > 63:
        raise invalid([FieldError("query.namespace", "not a valid namespace name", ns)])
    if svc.only_namespace and ns != svc.only_namespace:
        raise Problem(404, "Not Found", f'this API serves namespace "{svc.only_namespace}" only')
    return ns


async def caller(request: web.Request, verb: str, resource: str, ns: str, group: str = "taskops.dev") -> User:
    """The authenticated caller, once RBAC allows `verb` on `resource` in `ns` (401/403 otherwise)."""
    auth = services(request).auth
    user = await auth.authenticate(request)
    resource, _, sub = resource.partition("/")
    await auth.authorize(user, Access(verb=verb, resource=resource, namespace=ns, group=group, subresource=sub))
    return user


async def body(request: web.Request, model: type[M], optional: bool = False) -> tuple[M, Any]:
    """The body validated by `model`, and the raw JSON (for the idempotency hash)."""
    try:
        raw_text = (await bodies.read(request)).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Problem(400, "Bad Request", f"the body is not UTF-8: {exc}") from None
    if not raw_text.strip():
        if optional:
            return model.model_validate({}), {}
        raise invalid([FieldError("body", "a JSON object is required", None)])
    try:
        raw = jsonbounds.loads(raw_text)
    except jsonbounds.TooDeep as exc:
        where = f"body.{exc.path}" if exc.path else "body"
        raise invalid([FieldError(where, str(exc), None)]) from None
    except json.JSONDecodeError as exc:
        raise Problem(400, "Bad Request", f"the body is not valid JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise invalid([FieldError("body", "must be a JSON object", type(raw).__name__)])
    try:
        return model.model_validate(raw), raw
    except ValidationError as exc:
        raise from_validation(exc, "body") from exc


def query_int(request: web.Request, name: str, default: int, lo: int, hi: int) -> int:
    text = request.query.get(name)
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise invalid([FieldError(f"query.{name}", "must be an integer", text)]) from None
    if not lo <= value <= hi:
        raise invalid([FieldError(f"query.{name}", f"must be between {lo} and {hi}", value)])
    return value


def query_bool(request: web.Request, name: str, default: bool | None = False) -> bool | None:
    text = request.query.get(name)
    if text is None or text == "":
        return default
    if text.lower() in ("true", "1", "yes"):
        return True
    if text.lower() in ("false", "0", "no"):
        return False
    raise invalid([FieldError(f"query.{name}", "must be true or false", text)])


def reply(model: BaseModel | dict[str, Any], status: int = 200) -> web.Response:
    data = model.model_dump(mode="json", by_alias=True) if isinstance(model, BaseModel) else model
    return web.Response(status=status, text=json.dumps(data), content_type="application/json")
