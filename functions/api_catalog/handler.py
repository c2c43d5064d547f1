"""GET /health, /catalog, /catalog/{sku}, /openapi.json (public); logic in shared/catalog/routes.py."""

from typing import Any

from aws_lambda_powertools.logging import correlation_paths

from shared.api.declaration import route
from shared.catalog.routes import public
from shared.core.api import http_app, serve
from shared.core.observability import instrumented

app = http_app(public)


# GET /openapi.json
@route(app, "getOpenApiDocument")  # outside the document
def openapi() -> dict[str, Any]:
    from shared.api.openapi import document  # only this route pays for importing every router

    return document()


@instrumented(correlation_paths.API_GATEWAY_HTTP)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return serve(app, event, context)
