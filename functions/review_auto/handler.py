"""Fulfil step: automatic review; logic in shared/review/service.py.

Returns {order_id, version, kind, next: deliver | ship | wait}."""

from typing import Any

from shared.core.observability import instrumented
from shared.review import service


@instrumented()
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return service.auto(str(event["order_id"]))
