"""A typed Python client for the taskops REST API (docs/client.md), blocking (`Client`) and asyncio (`AsyncClient`).

    from taskops.client import Client

    with Client() as client:  # in a pod: its service-account token and namespace
        run = client.run("nightly-report", params={"day": "2026-12-01"}, wait=True)

Answers are the API's own models (`taskops.api.schemas`, re-exported here); errors are `ProblemError`s
carrying the problem's `errors` list.
"""

from taskops.api.openapi import TaskVersion, TaskVersionList
from taskops.api.schemas import (
    ErrorDetail,
    EventResult,
    Execution,
    InputResultList,
    Problem,
    Run002,
    RunList,
    RunOut,
    TaskList,
    TaskOut,
    TaskRun003,
    ValidateResult,
)
from taskops.client.aio import AsyncClient
from taskops.client.errors import (
    BadRequest,
    ClientError,
    Conflict,
    ContentTooLarge,
    Forbidden,
    Invalid,
    NotFound,
    ProblemError,
    ServerError,
    ServiceUnavailable,
    TooManyRequests,
    TransportError,
    Unauthorized,
)
from taskops.client.retry import RetryPolicy
from taskops.client.sync import Client

__all__ = [
    "AsyncClient",
    "BadRequest",
    "Client",
    "ClientError",
    "Conflict",
    "ContentTooLarge",
    "ErrorDetail",
    "EventResult",
    "Execution",
    "Forbidden",
    "InputResultList",
    "Invalid",
    "NotFound",
    "Problem",
    "ProblemError",
    "RetryPolicy",
    "Run002",
    "RunList",
    "RunOut",
    "ServerError",
    "ServiceUnavailable",
    "TaskList",
    "TaskOut",
    "TaskRun003",
    "TaskVersion",
    "TaskVersionList",
    "TooManyRequests",
    "TransportError",
    "Unauthorized",
    "ValidateResult",
]
