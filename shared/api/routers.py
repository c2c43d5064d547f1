"""Every HTTP router, for the OpenAPI document and the drift test against the declaration."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.api_gateway import Router

from shared.catalog.routes import merchant, public
from shared.entitlements.routes import router as entitlements
from shared.fulfilment.routes import router as tracking
from shared.logistics.routes import router as logistics_notify
from shared.notifications.routes import router as notifications
from shared.ops.routes import router as ops
from shared.orders.intake_routes import router as intake
from shared.orders.routes import orders
from shared.payments.notify_routes import notify as payment_notify
from shared.payments.routes import payments
from shared.review.routes import router as review

# function name (infra/declaration.py) -> the routers its handler serves
ROUTERS_BY_FUNCTION: dict[str, tuple[Router, ...]] = {
    "api_catalog": (public,),
    "api_merchant": (merchant,),
    "intake": (intake,),
    "api_orders": (orders, tracking, notifications, entitlements),
    "logistics_notify": (logistics_notify,),
    "api_ops": (ops,),
    "api_review": (review,),
    "pay": (payments,),
    "payment_notify": (payment_notify,),
}

ALL_ROUTERS: tuple[Router, ...] = tuple(router for routers in ROUTERS_BY_FUNCTION.values() for router in routers)

# Operations API Gateway serves without the JWT authorizer (must match infra/declaration.py).
PUBLIC_OPERATIONS = frozenset({
    "GET /health", "GET /catalog", "GET /catalog/{sku}",
    "POST /payments/wechatpay/notify", "POST /payments/alipay/notify",
    "POST /logistics/kuaidi100/notify", "POST /logistics/kdniao/notify",
})
