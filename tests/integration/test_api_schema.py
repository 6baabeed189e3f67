"""schemathesis against the served OpenAPI document: no 5xx, and every answer matches the document.

Two runs: every operation on its own (positive and negative examples), and sequences that follow the
document's links (create a task → get, update, pause, run, delete it; trigger a run → get, cancel, resume it),
which reach what random ids never do. Derandomized so a failure reproduces, no shrinking. `wait` and `follow`
are forced off (a generated wait_timeout of an hour would only test patience) and every request goes to the
test's namespace.

Budget: `make test` runs a small one (well under 3 minutes on 2 busy cores); `TASKOPS_FUZZ=full` (`make fuzz`)
a few hundred examples per operation and mode and a few hundred sequences. Every 5xx either ever found is a
regression test of its own (test_api_tasks.py, test_seed_clients.py).
"""

from __future__ import annotations

import collections
import os
import re
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.integration.api import Caller, make_task
from tests.integration.processes import OperatorProcess

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# TASKOPS_FUZZ=full: the large budget; a number N: N examples per operation and mode (and N sequences).
BUDGET = os.environ.get("TASKOPS_FUZZ", "")
FULL = BUDGET == "full"
# Examples per operation and mode; the drop-in routes (api/seed_routes.py) share their handlers with /api/v1
# operations, so fewer of theirs find anything new.
EXAMPLES = 300 if FULL else int(BUDGET) if BUDGET.isdigit() else 15
DROP_IN_EXAMPLES = 100 if FULL else max(3, EXAMPLES // 4)
# Linked sequences, and the most calls in one.
SEQUENCES = 300 if FULL else int(BUDGET) if BUDGET.isdigit() else 40
STEPS = 10 if FULL else 6
# pytest-timeout's default (pyproject.toml) fits the small budget; a larger one gets time in proportion.
STATELESS_SECONDS = max(300, EXAMPLES * 20)
SEQUENCE_SECONDS = max(300, SEQUENCES * STEPS * 2)


# A programming error's exception, as the last line of a logged traceback (transient API errors are retried, and
# logged as other exceptions).
BUG = re.compile(r"^(AssertionError|TypeError|KeyError|AttributeError|IndexError|ValueError|RecursionError)\b", re.M)


@pytest.fixture(autouse=True)
def no_bug_in_the_operator(operator: OperatorProcess) -> Iterator[None]:
    """What generated requests break in the operator shows only in its log: `make fuzz` found a Task with
    `concurrency_key: ""` failing every admission decision while every answer was fine. Such an error logged while
    the test ran fails it."""
    log = operator.log_file
    start = log.stat().st_size if log.exists() else 0
    yield
    text = log.read_bytes()[start:].decode(errors="replace") if log.exists() else ""
    found = BUG.search(text)
    assert found is None, "the operator logged a bug:\n" + text[max(0, found.start() - 2500) : found.end() + 200]


def _bounded(examples: int, **kw: Any) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
        **kw,
    )


def _pin(case: schemathesis.Case, ns: str) -> None:
    case.query = {**(case.query or {}), "namespace": ns}
    for slow in ("wait", "follow"):
        case.query.pop(slow, None)


def _schema(api: Caller) -> Any:
    auth = {"Authorization": f"Bearer {api.token}"}
    return schemathesis.openapi.from_url(f"{api.base}/api/v1/openapi.json", headers=auth, timeout=10)


@pytest.mark.timeout(STATELESS_SECONDS)
def test_every_operation_conforms_to_the_openapi_document(api: Caller, ns: str) -> None:
    # Something real for the generated ids to sometimes hit.
    make_task(api, "st", schedule_kind="event", schedule_expr="st")
    auth = {"Authorization": f"Bearer {api.token}"}
    failures: list[str] = []
    for result in _schema(api).get_all_operations():
        operation = result.ok()
        drop_in = not operation.path.startswith("/api/v1/")
        bounded = _bounded(DROP_IN_EXAMPLES if drop_in else EXAMPLES, phases=[Phase.explicit, Phase.generate])
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @bounded
            @given(case=operation.as_strategy(mode))
            def check(case: schemathesis.Case) -> None:
                _pin(case, ns)
                case.call_and_validate(base_url=api.base, headers=auth, checks=CHECKS, timeout=30)

            try:
                check()
            except (Exception, BaseExceptionGroup) as exc:  # schemathesis' FailureGroup is a BaseExceptionGroup
                failures.append(f"--- {operation.label} [{mode.value}] ---\n{getattr(exc, 'message', None) or exc!r}")
    if failures:
        pytest.fail("\n\n".join(failures), pytrace=False)


@pytest.mark.timeout(SEQUENCE_SECONDS)
def test_linked_sequences_conform_to_the_openapi_document(api: Caller, ns: str) -> None:
    """create → get / update / delete / lifecycle / trigger, and trigger → get / cancel / resume / logs."""
    auth = {"Authorization": f"Bearer {api.token}"}
    schema = _schema(api)
    schema.config.phases.stateful.inference.algorithms = []  # the document's own links, not guessed ones
    statuses: collections.Counter[tuple[str, int]] = collections.Counter()

    class Sequences(schema.as_state_machine()):  # type: ignore[misc]
        def before_call(self, case: schemathesis.Case) -> None:
            # A replayed sequence must meet the same answers (Hypothesis checks): a created task gets a fresh
            # name rather than a 409 the second time, and no Idempotency-Key turns a 201 into a replay's 200.
            _pin(case, ns)
            if case.method == "POST" and case.path in ("/api/v1/tasks", "/tasks") and isinstance(case.body, dict):
                case.body.pop("name", None)
            if case.headers:
                case.headers.pop("Idempotency-Key", None)

        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
            return {"base_url": api.base, "headers": auth, "timeout": 30}

        def after_call(self, response: Any, case: schemathesis.Case) -> None:
            statuses[(case.operation.label, response.status_code)] += 1

        def validate_response(
            self, response: Any, case: schemathesis.Case, additional_checks: Any = None, **kwargs: Any
        ) -> None:
            case.validate_response(response, checks=CHECKS, transport_kwargs=kwargs)

    try:
        Sequences.run(settings=_bounded(SEQUENCES, stateful_step_count=STEPS, phases=[Phase.generate]))
    finally:
        print("\n".join(f"{n:5} {status} {label}" for (label, status), n in sorted(statuses.items())))
    created = sum(n for (label, status), n in statuses.items() if status == 201 and label.endswith("tasks"))
    followed = sum(n for (label, status), n in statuses.items() if "{" in label and status < 400)
    assert created and followed, "no sequence got past creating a task: the links are never followed"
