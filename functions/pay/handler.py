"""POST /orders/{order_id}/pay: create (or return) the payment intent; logic in shared/payments/routes.py."""

from typing import Any

from aws_lambda_powertools.logging import correlation_paths

from shared.core.api import http_app, serve
from shared.core.observability import instrumented
from shared.payments.routes import payments, refuse_card_data

app = http_app(payments)


@instrumented(correlation_paths.API_GATEWAY_HTTP)
def _serve(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return serve(app, event, context)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # Before any logging wrapper (POWERTOOLS_LOGGER_LOG_EVENT would log the body): card data stops here.
    refused = refuse_card_data(event)
    return refused if refused is not None else _serve(event, context)
