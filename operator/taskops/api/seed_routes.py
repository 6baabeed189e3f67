"""The drop-in routes: each seed's own paths, served beside /api/v1 by the same handlers.

A client written for one of the seeds calls its own paths (`POST /tasks`, `POST /api/tasks/{taskName}/run`,
`GET /v1/runs`, ...). Each row below names such a path and the /api/v1 operation whose handler serves it, so
there is one implementation per operation: the same auth, validation, writes and response shape (each /api/v1
operation already answers in its seed's vocabulary). `app.py` registers every row with the handler of the
operation it `serves`; `openapi.py` documents every row as a copy of that operation under the seed's path.

To add a drop-in route: add a row (its /api/v1 operation must exist). Path parameters keep the seed's names;
they are matched to the served operation's parameters by position. A name must be an identifier (aiohttp's
rule), so seed 004's `{action-name}` is written `{action_name}`.

Pure data (no aiohttp): the OpenAPI document is built from it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

Seed = str  # "000" ... "004"
_PARAM = re.compile(r"\{([^}]+)\}")


@dataclass(frozen=True)
class SeedRoute:
    seed: Seed
    method: str  # lower case, as in the OpenAPI document
    path: str  # the seed's own path, with its own parameter names
    serves: str  # the /api/v1 path of the operation (same method) whose handler answers it
    # The seed's path parameters it types integer: integer ids (docs/api.md, "Names and ids"), so the document
    # types them integer there too; the served handler resolves them with the names and uids it takes.
    integer: tuple[str, ...] = ()

    def renames(self) -> dict[str, str]:
        """The seed's path parameter names → the served operation's, by position."""
        own, theirs = _PARAM.findall(self.path), _PARAM.findall(self.serves)
        if len(own) != len(theirs):
            raise ValueError(f"{self.path} and {self.serves} have different path parameters")
        return dict(zip(own, theirs, strict=True))


V1 = "/api/v1"
ROUTES: tuple[SeedRoute, ...] = (
    # Seed 001: the Tasks API at /tasks.
    SeedRoute("001", "post", "/tasks", V1 + "/tasks"),
    SeedRoute("001", "get", "/tasks", V1 + "/tasks"),
    SeedRoute("001", "get", "/tasks/{id}", V1 + "/tasks/{id}"),
    SeedRoute("001", "put", "/tasks/{id}", V1 + "/tasks/{id}"),
    *(
        SeedRoute("001", "post", f"/tasks/{{id}}/{action}", f"{V1}/tasks/{{id}}/{action}")
        for action in ("run_now", "snooze", "pause", "resume", "cancel")
    ),
    # Seed 002: trigger a run (string params are converted to the declared types: docs/api.md).
    SeedRoute("002", "post", "/api/tasks/{taskName}/run", V1 + "/tasks/{id}/run"),
    # Seed 003: run a task with overrides.
    SeedRoute("003", "post", "/api/tasks/{task_id}/runs", V1 + "/tasks/{id}/runs", integer=("task_id",)),
    # Seed 004: actions and runs at /v1.
    SeedRoute("004", "post", "/v1/actions/{action_name}/{mode}", V1 + "/actions/{name}/{mode}"),
    SeedRoute("004", "get", "/v1/runs", V1 + "/runs"),
    SeedRoute("004", "get", "/v1/runs/{run_uid}", V1 + "/runs/{id}"),
    SeedRoute("004", "post", "/v1/runs/{run_uid}/resume", V1 + "/runs/{id}/resume"),
    # Seed 004's "schedules list endpoint" (it names no path; /v1 as its other routes), and its schedules.
    SeedRoute("004", "get", "/v1/schedules", V1 + "/schedules"),
    SeedRoute("004", "get", "/v1/schedules/{schedule_id}", V1 + "/schedules/{id}"),
    SeedRoute("004", "delete", "/v1/schedules/{schedule_id}", V1 + "/schedules/{id}"),
    *(
        SeedRoute("004", "post", f"/v1/schedules/{{schedule_id}}/{action}", f"{V1}/schedules/{{id}}/{action}")
        for action in ("pause", "resume")
    ),
    # Seed 000's paths are /api/v1/integrations/executions..., served as they are: no row needed.
)
