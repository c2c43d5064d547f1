"""POST /payments/{wechatpay,alipay}/notify: verify, check, PAID, enqueue; logic in shared/payments/notify_routes.py."""

from typing import Any

from aws_lambda_powertools.logging import correlation_paths

from shared.core.api import http_app, serve
from shared.core.observability import instrumented
from shared.payments.notify_routes import ACCEPTS, failure, notify

app = http_app(notify, accepts=ACCEPTS, failure=failure)  # the partners' failure bodies, never problems


@instrumented(correlation_paths.API_GATEWAY_HTTP)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return serve(app, event, context)
