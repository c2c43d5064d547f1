"""GET /review/queue, POST /review/{order_id}/claim|approve|reject (reviewer); logic in shared/review/routes.py."""

from typing import Any

from aws_lambda_powertools.logging import correlation_paths

from shared.core.api import http_app, serve
from shared.core.observability import instrumented
from shared.review.routes import router

app = http_app(router)


@instrumented(correlation_paths.API_GATEWAY_HTTP)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return serve(app, event, context)
