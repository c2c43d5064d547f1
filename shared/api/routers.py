"""Every HTTP router, for the OpenAPI document and the drift test against the declaration."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.api_gateway import Router

from shared.catalog.routes import merchant, public
from shared.orders.intake_routes import router as intake
from shared.orders.routes import orders

# function name (infra/declaration.py) -> the routers its handler serves
ROUTERS_BY_FUNCTION: dict[str, tuple[Router, ...]] = {
    "api_catalog": (public,),
    "api_merchant": (merchant,),
    "intake": (intake,),
    "api_orders": (orders,),
}

ALL_ROUTERS: tuple[Router, ...] = tuple(router for routers in ROUTERS_BY_FUNCTION.values() for router in routers)

# Operations API Gateway serves without the JWT authorizer (must match infra/declaration.py).
PUBLIC_OPERATIONS = frozenset({"GET /health", "GET /catalog", "GET /catalog/{sku}"})
