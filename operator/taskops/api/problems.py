"""RFC 9457 problem+json for every error, and the middleware that guarantees no stack trace escapes."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import aiohttp
from aiohttp import web
from pydantic import ValidationError

from taskops.clients.errors import ApiError
from taskops.domain.resources.params import FieldError, validation_errors

log = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"
DOCS = "https://taskops.dev/problems/"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# aiohttp's own body limit (its 413 for reads that do not go through api.bodies).
MAX_BODY = web.AppKey("max_body", int)


class Problem(Exception):
    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        errors: Iterable[FieldError] = (),
        type_: str = "about:blank",
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail
        self.errors = list(errors)
        self.type = type_
        self.headers = headers or {}

    def response(self, instance: str) -> web.Response:
        body: dict[str, Any] = {"type": self.type, "title": self.title, "status": self.status, "instance": instance}
        if self.detail:
            body["detail"] = self.detail
        if self.errors:
            body["errors"] = [{"location": e.location, "message": e.message, "value": e.value} for e in self.errors]
        return web.Response(
            status=self.status,
            text=json.dumps(body, default=str),
            content_type=PROBLEM_JSON,
            headers=self.headers,
        )


def invalid(errors: list[FieldError], detail: str | None = None) -> Problem:
    summary = detail or "; ".join(f"{e.location}: {e.message}" for e in errors[:3])
    return Problem(422, "Unprocessable Entity", summary, errors, DOCS + "validation")


def from_validation(exc: ValidationError, where: str) -> Problem:
    return invalid(validation_errors(exc, where))


def from_api_error(exc: ApiError) -> Problem:
    """A Kubernetes API error as the API's own answer (its message, never a trace)."""
    if exc.status == 422:
        details = (exc.body.get("details") or {}) if isinstance(exc.body, dict) else {}
        errors = [
            FieldError(f"body.{c.get('field', '')}", c.get("message", ""), None) for c in details.get("causes") or []
        ]
        return invalid(errors, exc.message)
    if exc.status in (403, 404, 409):
        titles = {403: "Forbidden", 404: "Not Found", 409: "Conflict"}
        return Problem(exc.status, titles[exc.status], exc.message)
    if exc.status == 429:
        return Problem(503, "Service Unavailable", "the Kubernetes API is busy", headers={"Retry-After": "1"})
    if exc.status in (503, 504):
        # The API server is up but its storage is not (etcd stalled or unreachable): as transient as being down.
        return unreachable(f"the Kubernetes API answered {exc.status}: {exc.message}")
    return Problem(502, "Bad Gateway", f"the Kubernetes API answered {exc.status}: {exc.message}")


def unreachable(detail: str = "the Kubernetes API is unreachable; retry shortly") -> Problem:
    """A Kubernetes API that is down or stalled: the caller may retry the same request, so 503, not 500."""
    return Problem(
        503, "Service Unavailable", detail, type_=DOCS + "kubernetes-unavailable", headers={"Retry-After": "1"}
    )


_STATUS_TITLES = {400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 413: "Content Too Large"}


@web.middleware
async def problem_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except Problem as exc:
        return exc.response(request.path)
    except ApiError as exc:
        return from_api_error(exc).response(request.path)
    except (aiohttp.ClientConnectionError, TimeoutError) as exc:
        log.warning("the Kubernetes API is unreachable on %s %s: %r", request.method, request.path, exc)
        return unreachable().response(request.path)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        title = _STATUS_TITLES.get(exc.status, exc.reason)
        detail = exc.text if exc.text and not exc.text.startswith(f"{exc.status}:") else None
        if exc.status == 413:
            detail = f"the body exceeds the limit of {request.app[MAX_BODY]} bytes"
        headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        return Problem(exc.status, title, detail, headers=headers).response(request.path)
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return Problem(500, "Internal Server Error", "an unexpected error; the API log has the details").response(
            request.path
        )
