"""GET /orders/{order_id}/tracking: the parcel's trace, newest first (owner, the shop's merchant, ops)."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.api_gateway import Router

# `fulfilment.tracking_views` (with the logistics models) is imported on first use, not by every api_orders start
from shared import fulfilment
from shared.api.declaration import route
from shared.core.api import principal
from shared.core.errors import NotFound
from shared.core.types import OrderId

router = Router()  # Powertools leaves __init__ unannotated


# GET /orders/{order_id}/tracking
@route(router, "getOrderTracking", summary="Where the parcel is: the full trace, newest first")
def get_tracking(order_id: OrderId) -> fulfilment.tracking_views.TrackingView:
    from shared.fulfilment.tracking_views import TraceView, TrackingState, TrackingView
    from shared.logistics import store as tracking_store
    from shared.orders.routes import readable_order

    order = readable_order(order_id, principal(router))
    shipment = order.shipment
    if order.kind != "physical" or not shipment:
        raise NotFound("This order has no shipment (digital, or not shipped yet).", code="no_shipment")
    record = tracking_store.get_tracking(order_id) or {}
    return TrackingView(
        order_id=order_id,
        carrier=shipment["carrier"],
        tracking_number=shipment["tracking_number"],
        state=TrackingState(record.get("state") or (order.fulfilment or {}).get("state") or "NO_INFO"),
        traces=[TraceView.model_validate(row) for row in record.get("traces", [])],
    )
