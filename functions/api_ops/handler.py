"""Ops views: GET /ops/inbox/{kind}, GET /ops/orders/{order_id}; logic in shared/ops/routes.py. Dispute
arbitration: GET /ops/disputes, POST /ops/disputes/{case_id}/claim|decide (shared/aftersales/disputes.py); the ticket
queue, assign and close (shared/tickets/routes.py)."""

from typing import Any

from aws_lambda_powertools.logging import correlation_paths

from shared.aftersales.dispute_routes import ops as disputes
from shared.core.api import http_app, serve
from shared.core.observability import instrumented
from shared.ops.routes import router
from shared.tickets.routes import ops_router as tickets

app = http_app(router, disputes, tickets)


@instrumented(correlation_paths.API_GATEWAY_HTTP)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return serve(app, event, context)
