"""How API names map onto Kubernetes object names, and the names of the Runs the API creates.

Seed 002 allows task names matching `^[a-zA-Z0-9._:-]+$`, 1 to 100 characters;
a Kubernetes object name is lowercase, without `_` or `:`, and a Task's name is
also a label value on its Runs and Jobs (63 characters at most). The rule:

- a name that already is a valid object name of at most 63 characters is used
  as it is (so Tasks made with kubectl keep their name in the API);
- any other name becomes `<readable part>-<10 hex digits of its SHA-256>`, and
  the original is stored in the Task's `taskops.dev/name` annotation.

The API checks that annotation whenever it resolves a name, so two different
API names can never address one object: a hash collision (or a kubectl Task
named like a hashed form) is refused with 409, never silently shared.
"""

from __future__ import annotations

import re

from taskops.domain.resources.names import DNS_SUBDOMAIN, digest

API_NAME_PATTERN = r"^[a-zA-Z0-9._:-]+$"
API_NAME_MAX = 100
OBJECT_NAME_MAX = 63
ANNOTATION_API_NAME = "taskops.dev/name"
ANNOTATION_REQUEST_HASH = "taskops.dev/request-hash"
ANNOTATION_IDEMPOTENCY_KEY = "taskops.dev/idempotency-key"
# Creation time to the microsecond: creationTimestamp has whole seconds, too coarse to order runs.
ANNOTATION_CREATED_AT = "taskops.dev/created-at"
ANNOTATION_EVENT_ID = "taskops.dev/event-id"
LABEL_EVENT = "taskops.dev/event"
# A Task made by `POST /actions/{name}/schedule` (seed 004): labelled, and annotated with its action's API name.
LABEL_SCHEDULE = "taskops.dev/schedule"
ANNOTATION_SCHEDULE_OF = "taskops.dev/schedule-of"

_OBJECT_NAME = re.compile(DNS_SUBDOMAIN)


def is_object_name(name: str, limit: int = OBJECT_NAME_MAX) -> bool:
    return len(name) <= limit and _OBJECT_NAME.match(name) is not None


def task_object_name(api_name: str) -> str:
    """The Task object's name for an API task name (see the module docstring)."""
    if is_object_name(api_name):
        return api_name
    readable = re.sub(r"[^a-z0-9.-]+", "-", api_name.lower()).strip("-.")[:40].strip("-.")
    hashed = digest(api_name, 10)
    return f"{readable}-{hashed}" if readable else f"t-{hashed}"


def task_api_name(object_name: str, annotations: dict[str, str] | None) -> str:
    return (annotations or {}).get(ANNOTATION_API_NAME) or object_name


def idempotent_run_name(namespace: str, caller: str, key: str) -> str:
    """One name per (namespace, caller, Idempotency-Key): the API server's uniqueness makes a replay exact."""
    return "idem-" + digest("\0".join((namespace, caller, key)), 24)


def _with_suffix(base: str, suffix: str) -> str:
    # A Run's name is also a label value on its Jobs and pods: 63 characters at most.
    return f"{base[: OBJECT_NAME_MAX - len(suffix)].rstrip('-.')}{suffix}"


def event_run_name(task_object: str, event: str, event_id: str) -> str:
    """One Run per (Task, event name, event id): posting an event twice fires it once."""
    return _with_suffix(task_object, "-ev-" + digest("\0".join((event, event_id)), 12))


def resume_run_name(run_name: str) -> str:
    """The Run that resumes `run_name`: one per original, so resuming twice returns the same Run."""
    return _with_suffix(run_name, "-resume-" + digest(run_name, 6))


def run_name_prefix(task_object: str) -> str:
    """`generateName` of an API-triggered Run: the API server appends 5 random characters."""
    return _with_suffix(task_object[: OBJECT_NAME_MAX - 6], "-")
