"""POST /logistics/kuaidi100/notify and /logistics/kdniao/notify (signed tracking); logic in shared/logistics/routes.py.

Answers the partner's exact body (see shared/logistics/routes.py), never problem+json on the happy path.
"""

from typing import Any

from aws_lambda_powertools.logging import correlation_paths

from shared.core.api import http_app, serve
from shared.core.observability import instrumented
from shared.logistics.routes import ACCEPTS, failure, router

app = http_app(router, accepts=ACCEPTS, failure=failure)  # the partners' failure bodies, never problems


@instrumented(correlation_paths.API_GATEWAY_HTTP)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return serve(app, event, context)
