"""Powertools Logger and Metrics, one instance each per function (the service name comes from env)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics

logger = Logger(service="order24")
metrics = Metrics(namespace="order24")

Handler = Callable[[dict[str, Any], Any], Any]


def instrumented(correlation_id_path: str | None = None) -> Callable[[Handler], Handler]:
    """Structured logs with the Lambda context and a correlation id, and EMF metrics flushed per call."""

    def wrap(handler: Handler) -> Handler:
        logged = logger.inject_lambda_context(correlation_id_path=correlation_id_path, clear_state=True)(handler)
        return metrics.log_metrics(logged)  # type: ignore[no-any-return]

    return wrap
