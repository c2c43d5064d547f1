"""Checkout step: explainable fraud score (enforce rejects, shadow records); logic in shared/risk/service.py."""

from typing import Any

from shared.core.observability import instrumented
from shared.risk import service


@instrumented()
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return service.check(str(event["order_id"]))
