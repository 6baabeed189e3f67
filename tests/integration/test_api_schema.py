"""schemathesis against the served OpenAPI document: no 5xx, and every answer matches the document.

Bounded: a few examples per operation and mode, no shrinking, derandomized so a
failure reproduces. `wait` is forced off (a generated wait_timeout of an hour
would only test patience) and every request goes to the test's namespace.
"""

from __future__ import annotations

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

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
BOUNDED = settings(
    max_examples=8,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
    report_multiple_bugs=False,
)


def test_every_operation_conforms_to_the_openapi_document(api: Caller, ns: str) -> None:
    # Something real for the generated ids to sometimes hit.
    make_task(api, "st", schedule_kind="event", schedule_expr="st")
    auth = {"Authorization": f"Bearer {api.token}"}
    schema = schemathesis.openapi.from_url(f"{api.base}/api/v1/openapi.json", headers=auth, timeout=10)
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @BOUNDED
            @given(case=operation.as_strategy(mode))
            def check(case: schemathesis.Case) -> None:
                case.query = {**(case.query or {}), "namespace": ns}
                case.query.pop("wait", None)
                case.call_and_validate(base_url=api.base, headers=auth, checks=CHECKS, timeout=30)

            try:
                check()
            except (Exception, BaseExceptionGroup) as exc:  # schemathesis' FailureGroup is a BaseExceptionGroup
                failures.append(f"--- {operation.label} [{mode.value}] ---\n{getattr(exc, 'message', None) or exc!r}")
    if failures:
        pytest.fail("\n\n".join(failures), pytrace=False)
