"""Fulfil step: physical shipment; logic in shared/fulfilment/shipment.py.

Input {"order_id"}; returns {"order_id", "status", "version"}."""

from typing import Any

from shared.core.observability import instrumented
from shared.fulfilment import shipment
from shared.orders.steps import StepInput


@instrumented(correlation_id_path="order_id")
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return shipment.ship(StepInput.model_validate(event).order_id).payload()
