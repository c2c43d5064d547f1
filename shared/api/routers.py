"""Every HTTP router by the function whose handler serves it, for the OpenAPI document.

The routes themselves (method, path, operationId, tags, roles, auth) are declared in shared/api/declaration.py;
tests/unit/api/test_openapi_and_routes.py checks each function's routers serve exactly its declared routes."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.api_gateway import Router

from shared.aftersales.decision_routes import router as aftersales_merchant
from shared.aftersales.dispute_routes import ops as disputes_ops
from shared.aftersales.dispute_routes import parties as disputes_parties
from shared.aftersales.return_routes import router as returns
from shared.aftersales.routes import router as aftersales
from shared.api.declaration import PUBLIC_OPERATIONS as PUBLIC_OPERATIONS  # derived from the routes
from shared.catalog.routes import merchant, public
from shared.entitlements.routes import router as entitlements
from shared.fulfilment.routes import router as tracking
from shared.logistics.routes import router as logistics_notify
from shared.notifications.routes import router as notifications
from shared.ops.routes import router as ops
from shared.orders.intake_routes import router as intake
from shared.orders.routes import orders
from shared.payments.ledger_routes import router as payment_ledger
from shared.payments.notify_routes import notify as payment_notify
from shared.payments.routes import payments
from shared.review.routes import router as review
from shared.tickets.routes import ops_router as ops_tickets
from shared.tickets.routes import router as tickets

# function name (infra/declaration.py) -> the routers its handler serves; the keys are the functions ROUTES name
ROUTERS_BY_FUNCTION: dict[str, tuple[Router, ...]] = {
    "api_catalog": (public,),
    "api_merchant": (merchant, aftersales_merchant),
    "intake": (intake,),
    "api_orders": (orders, tracking, notifications, entitlements, aftersales, disputes_parties, returns, tickets,
                   payment_ledger),
    "logistics_notify": (logistics_notify,),
    "api_ops": (ops, disputes_ops, ops_tickets),
    "api_review": (review,),
    "pay": (payments,),
    "payment_notify": (payment_notify,),
}

ALL_ROUTERS: tuple[Router, ...] = tuple(router for routers in ROUTERS_BY_FUNCTION.values() for router in routers)
