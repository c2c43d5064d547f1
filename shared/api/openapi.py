"""The OpenAPI 3.1 document of every deployed route, generated from the routers themselves."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from shared.api.declaration import PUBLIC_OPERATIONS
from shared.api.routers import ALL_ROUTERS
from shared.core.api import http_app

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details; `code` is stable and machine-readable.",
    "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
        "detail": {"type": "string"}, "code": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object"}},
        "current_status": {"type": "string"},
        "next": {"type": "string", "description": "where to go instead, e.g. `after_sales` once fulfilment started"},
    },
    "additionalProperties": True,
}


@cache
def document() -> dict[str, Any]:
    app = http_app(*ALL_ROUTERS)
    schema: dict[str, Any] = json.loads(app.get_openapi_json_schema(
        title="order24 API",
        version="1.0.0",
        summary="Orders at any hour: catalog, orders, payments, review, fulfilment, tracking.",
        description="Every error is RFC 9457 application/problem+json with a stable `code`. "
        "Send the Cognito ID or access token as `Authorization: Bearer <token>`.",
    ))
    components = schema.setdefault("components", {})
    components.setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    components["securitySchemes"] = {"cognito": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}
    problem = {"description": "Problem", "content": {"application/problem+json": {
        "schema": {"$ref": "#/components/schemas/Problem"}}}}
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)  # replaced by our problem+json shape
            for code, response in responses.items():
                if code[:1] in ("4", "5"):  # a route's own 404/409/503 is a problem too, not the 200 model
                    response["content"] = problem["content"]
            responses["4XX"] = problem
            if f"{method.upper()} {path}" not in PUBLIC_OPERATIONS:
                operation["security"] = [{"cognito": []}]
    return schema
