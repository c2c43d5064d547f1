"""Checkout step: explainable fraud score (enforce rejects, shadow records); logic in shared/risk/service.py."""

from typing import Any

from shared.core.observability import instrumented
from shared.orders.steps import StepInput
from shared.risk import service


@instrumented()
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return service.check(StepInput.model_validate(event).order_id).payload()
