"""The OpenAPI 3.1 document of every deployed route, generated from the routers themselves."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from shared.api.routers import ALL_ROUTERS
from shared.core.api import http_app


@cache
def document() -> dict[str, Any]:
    app = http_app(*ALL_ROUTERS)
    schema = app.get_openapi_json_schema(
        title="order24 API",
        version="1.0.0",
        summary="Orders at any hour: catalog, orders, payments, review, fulfilment, tracking.",
        description="Every error is RFC 9457 application/problem+json with a stable `code`.",
    )
    return json.loads(schema)  # type: ignore[no-any-return]
