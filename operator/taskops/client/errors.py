"""What the client raises: a typed problem (RFC 9457, with the API's `errors` list) per HTTP status."""

from __future__ import annotations

from pydantic import ValidationError

from taskops.api.schemas import ErrorDetail, Problem
from taskops.domain.resources.params import FieldError

__all__ = [
    "BadRequest",
    "ClientError",
    "Conflict",
    "ContentTooLarge",
    "Forbidden",
    "Invalid",
    "NotFound",
    "ProblemError",
    "ServerError",
    "ServiceUnavailable",
    "TooManyRequests",
    "TransportError",
    "Unauthorized",
]


class ClientError(Exception):
    """Anything the taskops client raises."""


class TransportError(ClientError):
    """The API could not be reached, or the connection broke (after the retries allowed for the request)."""


class ProblemError(ClientError):
    """The API answered with a problem (application/problem+json): `problem` is the parsed document."""

    status: int = 0

    def __init__(self, problem: Problem) -> None:
        super().__init__(f"{problem.status} {problem.title}: {problem.detail or ''}".rstrip(": "))
        self.problem = problem
        self.status = problem.status

    @property
    def errors(self) -> list[ErrorDetail]:
        """Each invalid field with its location (`body.params.limit`, `query.wait_timeout`), message and value."""
        return list(self.problem.errors or [])


class BadRequest(ProblemError):
    status = 400


class Unauthorized(ProblemError):
    status = 401


class Forbidden(ProblemError):
    status = 403


class NotFound(ProblemError):
    status = 404


class Conflict(ProblemError):
    status = 409


class ContentTooLarge(ProblemError):
    status = 413


class Invalid(ProblemError):
    status = 422


class TooManyRequests(ProblemError):
    status = 429


class ServiceUnavailable(ProblemError):
    status = 503


class ServerError(ProblemError):
    """Any other 5xx."""


_BY_STATUS: dict[int, type[ProblemError]] = {
    c.status: c
    for c in (BadRequest, Unauthorized, Forbidden, NotFound, Conflict, ContentTooLarge, Invalid, TooManyRequests)
}
_BY_STATUS[503] = ServiceUnavailable
MAX_DETAIL = 500


def problem_of(status: int, reason: str, text: str) -> Problem:
    """The problem an error response carries; a body that is not one (a proxy's page) becomes one."""
    try:
        problem = Problem.model_validate_json(text)
    except ValidationError:
        return Problem(title=reason or "HTTP error", status=status, detail=text[:MAX_DETAIL] or None)
    return problem.model_copy(update={"status": status})


def error_for(status: int, reason: str, text: str) -> ProblemError:
    kind = _BY_STATUS.get(status) or (ServerError if status >= 500 else ProblemError)
    return kind(problem_of(status, reason, text))


def invalid_request(errors: list[FieldError]) -> Invalid:
    """A request the client refuses before sending it, in the words the API would use (422, same locations)."""
    summary = "; ".join(f"{e.location}: {e.message}" for e in errors[:3])
    details = [ErrorDetail(location=e.location, message=e.message, value=e.value) for e in errors]
    return Invalid(Problem(title="Unprocessable Entity", status=422, detail=summary, errors=details))
