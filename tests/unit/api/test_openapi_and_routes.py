"""The API contract: the committed OpenAPI document, the routers and the declaration agree."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

from infra.declaration import DECLARATION
from shared.api.declaration import PARTNER_CALLBACKS, PUBLIC_OPERATIONS, ROUTES, gateway_path
from shared.api.openapi import document
from shared.api.routers import ROUTERS_BY_FUNCTION

ROOT = Path(__file__).resolve().parents[3]


def router_operations(function: str) -> set[str]:
    found: set[str] = set()
    for router in ROUTERS_BY_FUNCTION.get(function, ()):
        for (rule, methods, *_rest) in router._routes:
            path = gateway_path(rule)
            found.update(f"{method.upper()} {path}" for method in methods)
    return found


def handler_operations(function: str) -> set[str]:
    """What the deployed handler's resolver really serves."""
    app = importlib.import_module(f"functions.{function}.handler").app
    keys = (re.sub(r"^([A-Z]+)/", r"\1 /", key) for key in app._route_keys)  # "GET/x" -> "GET /x"
    return {gateway_path(key) for key in keys}


def test_committed_openapi_document_matches_the_routes() -> None:
    committed = json.loads((ROOT / "docs" / "openapi.json").read_text())
    assert committed == document(), "docs/openapi.json drifted: run `make openapi`"


def test_every_declared_route_is_served_by_its_function_and_nothing_else() -> None:
    assert set(ROUTERS_BY_FUNCTION) == {route.function for route in ROUTES}, (
        "ROUTERS_BY_FUNCTION (shared/api/routers.py) must name exactly the functions ROUTES route to")
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
    assert declared_public == PUBLIC_OPERATIONS


def test_the_deployed_routes_are_the_shared_route_declaration() -> None:
    assert DECLARATION.routes == ROUTES


def test_every_operation_in_the_document_has_the_declared_operation_id_and_tags() -> None:
    documented = {
        f"{method.upper()} {path}": operation
        for path, operations in document()["paths"].items() for method, operation in operations.items()
    }
    in_schema = {r.route_key: r for r in ROUTES if r.in_schema}
    assert set(documented) == set(in_schema)
    for key, operation in documented.items():
        assert operation["operationId"] == in_schema[key].operation_id, key
        assert operation["tags"] == list(in_schema[key].tags), key
    ids = [r.operation_id for r in ROUTES]
    assert len(set(ids)) == len(ids), "operationIds must be unique"
    assert all(re.fullmatch(r"[a-z][A-Za-z0-9]+", i) for i in ids), "operationIds are short camelCase names"


def test_partner_callbacks_are_public_and_tagged_so_frontend_clients_can_leave_them_out() -> None:
    callbacks = {r.route_key for r in ROUTES if PARTNER_CALLBACKS in r.tags}
    assert callbacks == {
        "POST /payments/wechatpay/notify", "POST /payments/alipay/notify",
        "POST /logistics/kuaidi100/notify", "POST /logistics/kdniao/notify",
    }
    assert callbacks <= PUBLIC_OPERATIONS
    assert all(r.tags == (PARTNER_CALLBACKS,) for r in ROUTES if r.route_key in callbacks)


def test_openapi_document_is_3_1_with_problem_errors_and_bearer_auth() -> None:
    doc = document()
    assert doc["openapi"].startswith("3.1")
    assert doc["paths"]["/orders"]["post"]["security"] == [{"cognito": []}]
    assert "security" not in doc["paths"]["/catalog"]["get"]
    assert "4XX" in doc["paths"]["/orders"]["post"]["responses"]
