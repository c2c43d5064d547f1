"""Checkout step: reserve stock, order to AWAITING_PAYMENT, in one transaction; logic in shared/orders/checkout.py."""

from typing import Any

from shared.core.observability import instrumented
from shared.orders import checkout


@instrumented()
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return checkout.reserve(str(event["order_id"]))
