"""Powertools Logger and Metrics, one instance each per function (the service name comes from env)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics

from shared.core.config import function_settings

logger = Logger(service="order24")
metrics = Metrics(namespace="order24")

Handler = Callable[[dict[str, Any], Any], Any]


def instrumented(correlation_id_path: str | None = None) -> Callable[[Handler], Handler]:
    """Structured logs with the Lambda context and a correlation id, and EMF metrics flushed per call.
    At import (the cold start) the function's settings are validated: a bad tunable fails the cold start."""

    def wrap(handler: Handler) -> Handler:
        function_settings()  # ORDER24_FUNCTION's model (shared/core/config.py); none outside a deployed function
        logged = logger.inject_lambda_context(correlation_id_path=correlation_id_path, clear_state=True)(handler)
        return metrics.log_metrics(logged)

    return wrap


def metric(name: str, value: float, unit: str = "Count", **dimensions: str) -> None:
    """One metric with dimensions of its own (an outcome mix, say), as its own EMF line.

    Powertools' `single_metric` prints even when POWERTOOLS_METRICS_DISABLED is set (its Metrics flush
    honours the flag), so the flag is checked here: one place, for every such metric.
    """
    from aws_lambda_powertools.metrics import MetricUnit, single_metric
    from aws_lambda_powertools.metrics.functions import is_metrics_disabled

    if is_metrics_disabled():
        return
    with single_metric(name=name, unit=MetricUnit(unit), value=value, namespace="order24") as single:
        for key, dimension in dimensions.items():
            single.add_dimension(name=key, value=dimension)
