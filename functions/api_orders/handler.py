"""The shopper's reads; logic in shared/orders/routes.py (and fulfilment/, notifications/, entitlements/, aftersales/
routes.py: after-sales cases are served here, see shared/aftersales/routes.py for why; support tickets,
shared/tickets/routes.py; payments/ledger_routes.py: the order's payment ledger)."""

from typing import Any

from aws_lambda_powertools.logging import correlation_paths

from shared.aftersales.dispute_routes import parties as disputes
from shared.aftersales.return_routes import router as returns
from shared.aftersales.routes import router as aftersales
from shared.core.api import http_app, serve
from shared.core.observability import instrumented
from shared.entitlements.routes import router as entitlements
from shared.fulfilment.routes import router as tracking
from shared.notifications.routes import router as notifications
from shared.orders.routes import orders
from shared.payments.ledger_routes import router as payment_ledger
from shared.tickets.routes import router as tickets

app = http_app(orders, tracking, notifications, entitlements, aftersales, disputes, returns, tickets, payment_ledger)


@instrumented(correlation_paths.API_GATEWAY_HTTP)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return serve(app, event, context)
