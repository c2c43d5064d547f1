"""HTTP routes of orders: the shopper's reads and cancel by stage (shared/orders/lifecycle.py `cancel_by_shopper`;
intake has its own module: the peak path)."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from shared.api.declaration import route
from shared.core.api import principal, require_role
from shared.core.auth import Principal
from shared.core.errors import NotFound
from shared.core.roles import Role
from shared.core.types import OrderId
from shared.orders import lifecycle, store
from shared.orders.aggregate import Order
from shared.orders.views import OrderPage, OrderView, Timeline

orders = Router()


def readable_order(order_id: str, caller: Principal) -> Order:
    """The owner, the shop's merchant and ops may read; everyone else gets 404 so ids cannot be probed."""
    order = store.get(order_id)
    allowed = order is not None and (
        order.shopper_id == caller.sub
        or (caller.has(Role.MERCHANT) and order.shop_id == caller.sub)
        or caller.has(Role.OPS)
    )
    if not allowed or order is None:
        raise NotFound(f"No order {order_id!r}.", code="order_not_found")
    return order


# GET /orders
@route(orders, "listOrders", summary="Your orders, newest first")
def list_orders(cursor: Annotated[str | None, Query(max_length=2048)] = None) -> OrderPage:
    caller = require_role(orders, Role.SHOPPER)
    found, next_cursor = store.list_for_shopper(caller.sub, cursor)
    return OrderPage(items=[OrderView.of(order) for order in found], cursor=next_cursor)


# GET /orders/{order_id}
@route(orders, "getOrder", summary="One order")
def get_order(order_id: OrderId) -> OrderView:
    return OrderView.of(readable_order(order_id, principal(orders)))


# GET /orders/{order_id}/events
@route(orders, "listOrderEvents", summary="The order's timeline, oldest first")
def get_events(order_id: OrderId) -> Timeline:
    order = readable_order(order_id, principal(orders))
    return Timeline.of(order)


# POST /orders/{order_id}/cancel
@route(orders, "cancelOrder", summary="Cancel by stage: free before payment, refunded in full until fulfilment starts",
       description="PLACED or AWAITING_PAYMENT: cancelled, nothing was paid. PAID or IN_REVIEW: cancelled and the "
       "whole capture refunded to the payer (`payment.refunds.cancel`, out_refund_no `<order_id>-cancel`); a "
       "retry answers the same order and never refunds twice. Once fulfilment started (FULFILLING, SHIPPED, "
       "DELIVERED, COMPLETED): 409 `not_cancellable` with `current_status` and `next: \"after_sales\"`. "
       "503 `payment_provider_unavailable`: the order is cancelled and its refund granted; retry to finish it.")
def cancel(order_id: OrderId) -> OrderView:
    caller = require_role(orders, Role.SHOPPER)
    order = store.get(order_id, consistent=True)
    if order is None or order.shopper_id != caller.sub:
        raise NotFound(f"No order {order_id!r}.", code="order_not_found")
    return OrderView.of(lifecycle.cancel_by_shopper(order, caller.sub))
