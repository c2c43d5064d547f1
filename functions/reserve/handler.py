"""Checkout step: reserve stock, order to AWAITING_PAYMENT, in one transaction; logic in shared/orders/checkout.py."""

from typing import Any

from shared.core.observability import instrumented
from shared.orders import checkout
from shared.orders.steps import StepInput


@instrumented()
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return checkout.reserve(StepInput.model_validate(event).order_id).payload()
