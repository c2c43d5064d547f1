"""POST /orders, the peak path (validate, price, one conditional write, enqueue); logic in shared/orders/intake_http.py.

Valid requests are answered by `shared.orders.intake_http` without building the Powertools resolver (about
150 ms less cold start); anything else goes to the resolver built from the documented router, on first need.
"""

from functools import cache
from typing import Any

from aws_lambda_powertools.logging import correlation_paths

from shared.core.observability import instrumented
from shared.core.problems import screened
from shared.orders.intake_http import answer


@cache
def _app() -> Any:
    from shared.core.api import http_app
    from shared.orders.intake_routes import router

    return http_app(router)


def __getattr__(name: str) -> Any:
    if name == "app":  # the full resolver, for the route-drift test and anything that reads `handler.app`
        return _app()
    raise AttributeError(name)


@instrumented(correlation_paths.API_GATEWAY_HTTP)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    reply = screened(event) or answer(event)
    return reply if reply is not None else _app().resolve(event, context)
