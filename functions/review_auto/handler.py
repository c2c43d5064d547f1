"""Fulfil step: automatic review; logic in shared/review/service.py.

Returns {order_id, version, kind, next: deliver | ship | wait}."""

from typing import Any

from shared.core.observability import instrumented
from shared.orders.steps import StepInput
from shared.review import service


@instrumented()
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return service.auto(StepInput.model_validate(event).order_id).payload()
