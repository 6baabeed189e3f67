"""Kubernetes API errors as exceptions, carrying the API server's own message."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    def __init__(self, status: int, body: dict[str, Any] | str) -> None:
        self.status = status
        self.body = body
        if isinstance(body, dict):
            self.reason = str(body.get("reason") or "")
            self.message = str(body.get("message") or body)
        else:
            self.reason = ""
            self.message = body[:500]
        super().__init__(f"{status} {self.reason}: {self.message}")

    @property
    def transient(self) -> bool:
        return self.status >= 500 or self.status == 429

    @property
    def gone(self) -> bool:
        """The object or its namespace is gone or going: retrying cannot help."""
        return self.status == 404 or (self.status == 403 and "being terminated" in self.message)


class NotFound(ApiError):
    pass


class AlreadyExists(ApiError):
    pass


class Conflict(ApiError):
    pass


def api_error(status: int, body: dict[str, Any] | str) -> ApiError:
    if status == 404:
        return NotFound(status, body)
    if status == 409:
        reason = body.get("reason") if isinstance(body, dict) else ""
        return AlreadyExists(status, body) if reason == "AlreadyExists" else Conflict(status, body)
    return ApiError(status, body)
