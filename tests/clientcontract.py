"""The REST client against the OpenAPI document: every operation, parameter and body field in both, or neither.

Each public method of taskops.client marks the operation it calls (taskops/client/endpoints.py `uses`);
`mismatches(doc)` lists every difference between those marks and an OpenAPI document: an operation with no
method, a method calling an undocumented operation, a query/header parameter or body field the method can
neither send nor says it leaves out, an argument the API does not know, a different request or response
model. Run on the generated document by the unit tests, on the served one by the integration tests.
"""

from __future__ import annotations

import inspect
from typing import Any

from taskops.client import AsyncClient, Client
from taskops.client.endpoints import Use, use_of

# Paths outside /api/v1 are the seeds' drop-in routes (docs/api.md): the same handlers as their /api/v1
# twins, for clients written for a seed. taskops' own client speaks /api/v1 only.
OWN_PREFIX = "/api/v1/"
NOT_OPERATIONS = {"close"}
REF = "#/components/schemas/"


def python_name(param: str) -> str:
    return param.replace("-", "_").lower()


def client_uses() -> dict[str, Use]:
    found: dict[str, Use] = {}
    for name, member in inspect.getmembers(AsyncClient):
        if name.startswith("_") or name in NOT_OPERATIONS:
            continue
        use = use_of(member)
        assert use is not None, f"AsyncClient.{name} calls no operation (mark it with @uses)"
        found[name] = use
    return found


def _model_name(schema: dict[str, Any]) -> set[str]:
    refs = [schema] if "$ref" in schema else list(schema.get("oneOf") or schema.get("anyOf") or [])
    return {r["$ref"].removeprefix(REF) for r in refs if "$ref" in r}


def _responses(op: dict[str, Any]) -> set[str]:
    names: set[str] = set()
    for code, answer in op["responses"].items():
        if code.startswith("2"):
            for content in (answer.get("content") or {}).values():
                names |= _model_name(content.get("schema") or {})
    return names


def _body(doc: dict[str, Any], op: dict[str, Any]) -> tuple[str | None, set[str]]:
    schema = ((op.get("requestBody") or {}).get("content") or {}).get("application/json", {}).get("schema")
    if not schema:
        return None, set()
    name = schema["$ref"].removeprefix(REF)
    return name, set(doc["components"]["schemas"][name].get("properties") or {})


def mismatches(doc: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    uses = client_uses()
    by_operation: dict[tuple[str, str], list[tuple[str, Use]]] = {}
    for name, use in uses.items():
        by_operation.setdefault((use.endpoint.method, use.endpoint.path), []).append((name, use))
        if use_of(getattr(Client, name, None)) != use:
            problems.append(f"Client.{name} is missing or calls another operation than AsyncClient.{name}")
    documented = {
        (method, path): op
        for path, methods in doc["paths"].items()
        if path.startswith(OWN_PREFIX)
        for method, op in methods.items()
    }
    for key in sorted(set(documented) - set(by_operation)):
        problems.append(f"{key[0].upper()} {key[1]} is documented, but no client method calls it")
    for key in sorted(set(by_operation) - set(documented)):
        problems.append(f"{key[0].upper()} {key[1]} is called by {[n for n, _ in by_operation[key]]}, not documented")
    for key in sorted(set(documented) & set(by_operation)):
        problems += _operation(doc, key, documented[key], by_operation[key])
    return problems


def _operation(
    doc: dict[str, Any], key: tuple[str, str], op: dict[str, Any], users: list[tuple[str, Use]]
) -> list[str]:
    where = f"{key[0].upper()} {key[1]}"
    problems: list[str] = []
    params = {python_name(p["name"]) for p in op["parameters"] if p["in"] in ("query", "header")}
    paths = [p["name"] for p in op["parameters"] if p["in"] == "path"]
    body_model, fields = _body(doc, op)
    covered: set[str] = set()
    for name, use in users:
        endpoint = use.endpoint
        signature = inspect.signature(getattr(AsyncClient, name))
        args = [p for p in signature.parameters.values() if p.name != "self"]
        # The path parameters are the leading required arguments that are not the body or a body field.
        positional = [p.name for p in args if p.default is p.empty and p.kind == p.POSITIONAL_OR_KEYWORD]
        in_path = [a for a in positional if a != "body" and a not in fields]
        named = {p.name for p in args} - set(in_path)
        if len(in_path) != len(paths):
            problems.append(f"{name}: {in_path} for the path parameters {paths}")
        takes_body = "body" in named
        known = params | fields | set(use.client_only) | ({"body"} if takes_body else set())
        for extra in sorted(named - known):
            problems.append(f"{name}({extra}=...): {where} has no such parameter or body field")
        omitted = {python_name(k) for k in use.omitted}
        for stale in sorted((set(use.fixed) | omitted) - params - fields):
            problems.append(f"{name} fixes or leaves out {stale!r}, which {where} does not have")
        covered |= named | set(use.fixed) | omitted | (fields if takes_body else set())
        request = endpoint.request.__name__ if endpoint.request is not None else None
        if request != body_model:
            problems.append(f"{name} sends a {request} body; {where} takes {body_model}")
        response = endpoint.response.__name__ if endpoint.response is not None else None
        answers = _responses(op)
        if (response or answers) and response not in answers:
            problems.append(f"{name} reads a {response}; {where} answers {sorted(answers)}")
    for missing in sorted((params | fields) - covered):
        problems.append(f"{where} has {missing!r}, which no client method sends or says it leaves out")
    return problems
