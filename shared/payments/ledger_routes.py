"""GET /orders/{order_id}/ledger: the order's payment ledger (owner, the shop's merchant, ops), served by api_orders
(the same callers and grants as the order's other reads)."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.api_gateway import Router

from shared.api.declaration import route
from shared.core.api import principal
from shared.core.types import OrderId
from shared.payments.ledger import PaymentLedger, ledger

router = Router()  # Powertools leaves __init__ unannotated


# GET /orders/{order_id}/ledger
@route(router, "getOrderLedger", summary="The order's payment ledger in fen: captured, refund pending, refunded, "
       "compensation, net kept, and every refund or compensation grant",
       responses={200: {"description": "The ledger; every sum is the sum of its entries"},
                  404: {"description": "No such order, or not yours (`order_not_found`)"}})
def get_ledger(order_id: OrderId) -> PaymentLedger:
    from shared.orders.routes import readable_order

    return ledger(readable_order(order_id, principal(router)))
