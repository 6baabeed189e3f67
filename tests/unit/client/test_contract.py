"""The client and the OpenAPI document are checked against each other (tests/clientcontract.py): they agree
now, and a route, a parameter or a body field added to one side only is caught."""

from __future__ import annotations

import copy
from typing import Any

from taskops.api import openapi
from tests.clientcontract import client_uses, mismatches


def document() -> dict[str, Any]:
    return copy.deepcopy(openapi.document())


def test_the_client_and_the_openapi_document_agree() -> None:
    assert mismatches(openapi.document()) == []
    assert len(client_uses()) >= 25


def test_a_route_only_in_the_document_is_caught() -> None:
    doc = document()
    doc["paths"]["/api/v1/agents"] = {"get": {**doc["paths"]["/api/v1/runs"]["get"], "operationId": "get_agents"}}
    assert mismatches(doc) == ["GET /api/v1/agents is documented, but no client method calls it"]


def test_a_route_only_in_the_client_is_caught() -> None:
    doc = document()
    del doc["paths"]["/api/v1/runs/{id}/results"]
    assert mismatches(doc) == ["GET /api/v1/runs/{id}/results is called by ['results'], not documented"]


def test_a_query_parameter_only_in_the_document_is_caught() -> None:
    doc = document()
    op = doc["paths"]["/api/v1/runs"]["get"]
    op["parameters"].append({"name": "agent_id", "in": "query", "required": False, "schema": {"type": "string"}})
    assert mismatches(doc) == ["GET /api/v1/runs has 'agent_id', which no client method sends or says it leaves out"]


def test_a_parameter_only_in_the_client_is_caught() -> None:
    doc = document()
    op = doc["paths"]["/api/v1/runs"]["get"]
    op["parameters"] = [p for p in op["parameters"] if p["name"] != "sort"]
    assert mismatches(doc) == ["list_runs(sort=...): GET /api/v1/runs has no such parameter or body field"]


def test_a_body_field_only_in_the_document_is_caught() -> None:
    doc = document()
    doc["components"]["schemas"]["RunNowRequest"]["properties"]["agent_id"] = {"type": "string"}
    where = "POST /api/v1/tasks/{id}/run_now"
    assert mismatches(doc) == [f"{where} has 'agent_id', which no client method sends or says it leaves out"]


def test_a_body_field_only_in_the_client_is_caught() -> None:
    doc = document()
    del doc["components"]["schemas"]["EventRequest"]["properties"]["id"]
    assert mismatches(doc) == ["post_event(id=...): POST /api/v1/events/{name} has no such parameter or body field"]


def test_another_response_model_is_caught() -> None:
    doc = document()
    answer = doc["paths"]["/api/v1/runs/{id}"]["get"]["responses"]["200"]
    answer["content"]["application/json"]["schema"] = {"$ref": "#/components/schemas/Execution"}
    found = mismatches(doc)
    assert "get_run reads a RunOut; GET /api/v1/runs/{id} answers ['Execution']" in found
    assert "wait_run reads a RunOut; GET /api/v1/runs/{id} answers ['Execution']" in found


def test_the_seeds_drop_in_paths_are_not_the_clients() -> None:
    doc = document()
    doc["paths"]["/v1/runs"] = doc["paths"]["/api/v1/runs"]
    assert mismatches(doc) == []
