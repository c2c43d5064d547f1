"""The API contract: the committed OpenAPI document, the routers and the declaration agree."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

from infra.declaration import DECLARATION
from shared.api.openapi import document
from shared.api.routers import PUBLIC_OPERATIONS, ROUTERS_BY_FUNCTION

ROOT = Path(__file__).resolve().parents[3]


def router_operations(function: str) -> set[str]:
    found = set()
    for router in ROUTERS_BY_FUNCTION.get(function, ()):
        for (rule, methods, *_rest) in router._routes:
            path = re.sub(r"<(\w+)>", r"{\1}", rule)
            found.update(f"{method.upper()} {path}" for method in methods)
    return found


def handler_operations(function: str) -> set[str]:
    """What the deployed handler's resolver really serves."""
    app = importlib.import_module(f"functions.{function}.handler").app
    keys = (re.sub(r"^([A-Z]+)/", r"\1 /", key) for key in app._route_keys)  # "GET/x" -> "GET /x"
    return {re.sub(r"<(\w+)>", r"{\1}", key) for key in keys}


def test_committed_openapi_document_matches_the_routes() -> None:
    committed = json.loads((ROOT / "docs" / "openapi.json").read_text())
    assert committed == document(), "docs/openapi.json drifted: run `make openapi`"


def test_every_declared_route_is_served_by_its_function_and_nothing_else() -> None:
    for function in {route.function for route in DECLARATION.routes}:
        declared = {route.route_key for route in DECLARATION.routes if route.function == function}
        documented = router_operations(function)
        served = handler_operations(function)
        if function == "api_catalog":
            documented.add("GET /openapi.json")  # served by the handler itself, outside the document
        assert documented == declared, f"{function}: OpenAPI routers differ from the declaration"
        assert served == declared, f"{function}: the handler serves other routes than declared"


def test_public_operations_are_exactly_the_declared_public_routes() -> None:
    declared_public = {route.route_key for route in DECLARATION.routes if route.auth == "public"}
    assert PUBLIC_OPERATIONS | {"GET /openapi.json"} >= declared_public
    assert declared_public >= PUBLIC_OPERATIONS


def test_openapi_document_is_3_1_with_problem_errors_and_bearer_auth() -> None:
    doc = document()
    assert doc["openapi"].startswith("3.1")
    assert doc["paths"]["/orders"]["post"]["security"] == [{"cognito": []}]
    assert "security" not in doc["paths"]["/catalog"]["get"]
    assert "4XX" in doc["paths"]["/orders"]["post"]["responses"]
