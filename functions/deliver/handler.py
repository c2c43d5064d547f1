"""Fulfil step: digital delivery; logic in shared/fulfilment/delivery.py.

Input {"order_id"} or {"order_id", "action": "give_up", "error"}; returns {"order_id", "status", "version"}.
Raises DeliveryRetryable for the workflow's backoff retry.
"""

from typing import Any

from shared.core.observability import instrumented
from shared.fulfilment import delivery
from shared.fulfilment.providers import provider
from shared.orders.steps import StepInput


@instrumented(correlation_id_path="order_id")
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    order_id = StepInput.model_validate(event).order_id
    if event.get("action") == "give_up":
        return delivery.give_up(order_id, event.get("error")).payload()
    return delivery.deliver(order_id, provider()).payload()
