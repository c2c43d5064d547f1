"""Scheduled timers: expire unpaid orders (releasing their stock) and re-drive orders stuck in PLACED."""

from typing import Any

from shared.core.observability import instrumented, metrics
from shared.orders import lifecycle


@instrumented()
def handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    outcomes = lifecycle.sweep()
    for outcome, count in outcomes.items():
        metrics.add_metric(name=f"Sweep_{outcome}", unit="Count", value=count)
    return outcomes
