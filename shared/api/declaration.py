"""Every deployed HTTP route, declared once: method, path, function, auth, roles, operationId, tags.

This is the runtime half of the platform's declaration (the Lambda layer ships `shared/` only):
`infra/declaration.py` deploys these routes (API Gateway, the local gateway), the routers register their
handlers from it with `@route(router, "getOrder")`, and the OpenAPI document takes its operationIds and tags
from it. Paths are written once, in API Gateway syntax (`/orders/{order_id}`); `route` converts them to
Powertools' `<order_id>`. tests/unit/api/test_declaration_is_read_everywhere.py fails on any drift.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from shared.core.roles import Role

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
    from aws_lambda_powertools.event_handler.api_gateway import Router

Auth = Literal["public", "jwt"]
Method = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]

# Tag of the routes only partners call (signed payment and tracking callbacks): a client generated for the
# web or mobile frontend leaves operations with this tag out.
PARTNER_CALLBACKS = "partner-callbacks"

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # API Gateway HTTP API syntax: /orders/{order_id}
    function: str  # the function (infra/declaration.py FUNCTIONS) whose handler serves it
    auth: Auth = "jwt"
    operation_id: str = ""  # the name a generated client gives the call: getOrder
    tags: tuple[str, ...] = ()
    # The roles the handler requires (`require_role`); () is any signed-in caller on a jwt route, anyone on a
    # public one. Handlers that decide per object (owner, the shop's merchant, ops) declare ().
    roles: tuple[Role, ...] = ()
    in_schema: bool = True  # False: served, but not part of the OpenAPI document

    @property
    def route_key(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def rule(self) -> str:
        """The path in Powertools' syntax: /orders/<order_id>."""
        return powertools_rule(self.path)


def powertools_rule(path: str) -> str:
    return re.sub(r"\{(\w+)\}", r"<\1>", path)


def gateway_path(rule: str) -> str:
    """The inverse of `powertools_rule`: /orders/<order_id> -> /orders/{order_id}."""
    return re.sub(r"<(\w+)>", r"{\1}", rule)


_SHOPPER, _MERCHANT, _REVIEWER, _OPS = (Role.SHOPPER,), (Role.MERCHANT,), (Role.REVIEWER,), (Role.OPS,)

ROUTES: tuple[Route, ...] = (
    Route("GET", "/health", "api_catalog", "public", "getHealth", ("ops",)),
    Route("GET", "/openapi.json", "api_catalog", "public", "getOpenApiDocument", ("ops",), in_schema=False),
    Route("GET", "/catalog", "api_catalog", "public", "listCatalog", ("catalog",)),
    Route("GET", "/catalog/{sku}", "api_catalog", "public", "getSku", ("catalog",)),
    Route("POST", "/merchant/skus", "api_merchant", "jwt", "createSku", ("merchant",), _MERCHANT),
    Route("PUT", "/merchant/skus/{sku}", "api_merchant", "jwt", "replaceSku", ("merchant",), _MERCHANT),
    Route("PUT", "/merchant/skus/{sku}/stock", "api_merchant", "jwt", "setSkuStock", ("merchant",), _MERCHANT),
    Route("POST", "/orders", "intake", "jwt", "placeOrder", ("orders",), _SHOPPER),
    Route("GET", "/orders", "api_orders", "jwt", "listOrders", ("orders",), _SHOPPER),
    Route("GET", "/orders/{order_id}", "api_orders", "jwt", "getOrder", ("orders",)),
    Route("GET", "/orders/{order_id}/events", "api_orders", "jwt", "listOrderEvents", ("orders",)),
    Route("POST", "/orders/{order_id}/cancel", "api_orders", "jwt", "cancelOrder", ("orders",), _SHOPPER),
    Route("GET", "/orders/{order_id}/tracking", "api_orders", "jwt", "getOrderTracking", ("orders",)),
    Route("POST", "/orders/{order_id}/after-sales", "api_orders", "jwt", "openAfterSalesCase", ("after-sales",),
          _SHOPPER),
    Route("GET", "/orders/{order_id}/after-sales", "api_orders", "jwt", "listOrderAfterSalesCases",
          ("after-sales",)),
    Route("GET", "/after-sales/reasons", "api_orders", "public", "listAfterSalesReasons", ("after-sales",)),
    Route("GET", "/after-sales/{case_id}", "api_orders", "jwt", "getAfterSalesCase", ("after-sales",)),
    Route("GET", "/me/after-sales", "api_orders", "jwt", "listMyAfterSalesCases", ("after-sales",), _SHOPPER),
    Route("POST", "/after-sales/{case_id}/withdraw", "api_orders", "jwt", "withdrawAfterSalesCase",
          ("after-sales",), _SHOPPER),
    # merchant decisions and disputes (shared/aftersales/decision_routes.py, dispute_routes.py)
    Route("GET", "/merchant/after-sales", "api_merchant", "jwt", "listShopAfterSalesCases", ("after-sales",),
          _MERCHANT),
    Route("POST", "/merchant/after-sales/{case_id}/approve", "api_merchant", "jwt", "approveAfterSalesCase",
          ("after-sales",), _MERCHANT),
    Route("POST", "/merchant/after-sales/{case_id}/reject", "api_merchant", "jwt", "rejectAfterSalesCase",
          ("after-sales",), _MERCHANT),
    Route("POST", "/after-sales/{case_id}/dispute", "api_orders", "jwt", "disputeAfterSalesCase", ("after-sales",),
          _SHOPPER),
    Route("POST", "/after-sales/{case_id}/evidence", "api_orders", "jwt", "addAfterSalesEvidence", ("after-sales",)),
    Route("GET", "/ops/disputes", "api_ops", "jwt", "listOpsDisputes", ("ops",), _OPS),
    Route("POST", "/ops/disputes/{case_id}/claim", "api_ops", "jwt", "claimDispute", ("ops",), _OPS),
    Route("POST", "/ops/disputes/{case_id}/decide", "api_ops", "jwt", "decideDispute", ("ops",), _OPS),
    # returns (shared/aftersales/return_routes.py)
    Route("POST", "/after-sales/{case_id}/return-shipment", "api_orders", "jwt", "giveReturnShipment",
          ("after-sales",), _SHOPPER),
    Route("POST", "/merchant/after-sales/{case_id}/receive", "api_orders", "jwt", "receiveReturn",
          ("after-sales",), _MERCHANT),
    Route("GET", "/me/notifications", "api_orders", "jwt", "listNotifications", ("notifications",)),
    Route("POST", "/me/notifications/read", "api_orders", "jwt", "markNotificationsRead", ("notifications",)),
    Route("GET", "/me/entitlements", "api_orders", "jwt", "getEntitlements", ("entitlements",)),
    Route("GET", "/merchant/orders", "api_merchant", "jwt", "listShopOrders", ("merchant",), _MERCHANT),
    Route("GET", "/merchant/sales", "api_merchant", "jwt", "getShopSales", ("merchant",), _MERCHANT),
    Route("POST", "/orders/{order_id}/pay", "pay", "jwt", "payOrder", ("payments",), _SHOPPER),
    Route("GET", "/orders/{order_id}/ledger", "api_orders", "jwt", "getOrderLedger", ("payments",)),
    Route("POST", "/payments/wechatpay/notify", "payment_notify", "public", "notifyWechatpayPayment",
          (PARTNER_CALLBACKS,)),
    Route("POST", "/payments/alipay/notify", "payment_notify", "public", "notifyAlipayPayment",
          (PARTNER_CALLBACKS,)),
    Route("GET", "/review/queue", "api_review", "jwt", "listReviewQueue", ("review",), _REVIEWER),
    Route("POST", "/review/{order_id}/claim", "api_review", "jwt", "claimReview", ("review",), _REVIEWER),
    Route("POST", "/review/{order_id}/approve", "api_review", "jwt", "approveReview", ("review",), _REVIEWER),
    Route("POST", "/review/{order_id}/reject", "api_review", "jwt", "rejectReview", ("review",), _REVIEWER),
    Route("POST", "/logistics/kuaidi100/notify", "logistics_notify", "public", "notifyKuaidi100Tracking",
          (PARTNER_CALLBACKS,)),
    Route("POST", "/logistics/kdniao/notify", "logistics_notify", "public", "notifyKdniaoTracking",
          (PARTNER_CALLBACKS,)),
    Route("GET", "/ops/inbox/{kind}", "api_ops", "jwt", "listOpsInbox", ("ops",), _OPS),
    Route("GET", "/ops/orders/{order_id}", "api_ops", "jwt", "getOpsOrder", ("ops",), _OPS),
    # support tickets (shared/tickets/routes.py): the opener's on api_orders, ops' on api_ops
    Route("POST", "/me/tickets", "api_orders", "jwt", "openTicket", ("tickets",), (Role.SHOPPER, Role.MERCHANT)),
    Route("GET", "/me/tickets", "api_orders", "jwt", "listMyTickets", ("tickets",), (Role.SHOPPER, Role.MERCHANT)),
    Route("GET", "/tickets/{ticket_id}", "api_orders", "jwt", "getTicket", ("tickets",)),
    Route("POST", "/tickets/{ticket_id}/messages", "api_orders", "jwt", "postTicketMessage", ("tickets",)),
    Route("GET", "/ops/tickets", "api_ops", "jwt", "listOpsTickets", ("tickets",), _OPS),
    Route("POST", "/ops/tickets/{ticket_id}/assign", "api_ops", "jwt", "assignTicket", ("tickets",), _OPS),
    Route("POST", "/ops/tickets/{ticket_id}/close", "api_ops", "jwt", "closeTicket", ("tickets",), _OPS),
)

ROUTES_BY_OPERATION: dict[str, Route] = {r.operation_id: r for r in ROUTES}

# Operations API Gateway serves without the JWT authorizer.
PUBLIC_OPERATIONS: frozenset[str] = frozenset(r.route_key for r in ROUTES if r.auth == "public")


def declared(operation_id: str) -> Route:
    try:
        return ROUTES_BY_OPERATION[operation_id]
    except KeyError:
        raise KeyError(f"no route declares operationId {operation_id!r}: add it to ROUTES in "
                       "shared/api/declaration.py") from None


def route(router: Router | APIGatewayHttpResolver, operation_id: str, **openapi: Any) -> Callable[[F], F]:
    """Register the decorated function as the handler of the declared route `operation_id`: its method,
    path, operationId, tags and schema visibility come from ROUTES; `openapi` adds the rest (summary,
    responses, description)."""
    r = declared(operation_id)
    register = router.route(r.rule, r.method, operation_id=r.operation_id, tags=list(r.tags),
                            include_in_schema=r.in_schema, **openapi)
    return register
