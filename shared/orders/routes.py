"""HTTP routes of orders: the shopper's reads and cancel (intake has its own module: the peak path)."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from shared.core.api import Principal, principal, require_role
from shared.core.errors import NotFound
from shared.core.types import OrderId
from shared.orders import lifecycle, store
from shared.orders.aggregate import Order
from shared.orders.models import OrderPage, OrderView, Timeline

orders = Router()


def readable_order(order_id: str, caller: Principal) -> Order:
    """The owner, the shop's merchant and ops may read; everyone else gets 404 so ids cannot be probed."""
    order = store.get(order_id)
    allowed = order is not None and (
        order.shopper_id == caller.sub
        or (caller.has("merchant") and order.shop_id == caller.sub)
        or caller.has("ops")
    )
    if not allowed or order is None:
        raise NotFound(f"No order {order_id!r}.", code="order_not_found")
    return order


@orders.get("/orders", summary="Your orders, newest first", tags=["orders"])
def list_orders(cursor: Annotated[str | None, Query(max_length=2048)] = None) -> OrderPage:
    caller = require_role(orders, "shopper")
    found, next_cursor = store.list_for_shopper(caller.sub, cursor)
    return OrderPage(items=[OrderView.of(order) for order in found], cursor=next_cursor)


@orders.get("/orders/<order_id>", summary="One order", tags=["orders"])
def get_order(order_id: OrderId) -> OrderView:
    return OrderView.of(readable_order(order_id, principal(orders)))


@orders.get("/orders/<order_id>/events", summary="The order's timeline, oldest first", tags=["orders"])
def get_events(order_id: OrderId) -> Timeline:
    order = readable_order(order_id, principal(orders))
    return Timeline.of(order)


@orders.post("/orders/<order_id>/cancel", summary="Cancel before payment", tags=["orders"])
def cancel(order_id: OrderId) -> OrderView:
    caller = require_role(orders, "shopper")
    order = store.get(order_id, consistent=True)
    if order is None or order.shopper_id != caller.sub:
        raise NotFound(f"No order {order_id!r}.", code="order_not_found")
    return OrderView.of(lifecycle.cancel_by_shopper(order, caller.sub))
