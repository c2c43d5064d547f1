"""Merchant SKU management; logic in shared/catalog/routes.py. After-sales decisions; logic in
shared/aftersales/decisions.py (routes: shared/aftersales/decision_routes.py).

POST /merchant/skus, PUT /merchant/skus/{sku}, PUT /merchant/skus/{sku}/stock; GET /merchant/after-sales,
POST /merchant/after-sales/{case_id}/approve|reject."""

from typing import Any

from aws_lambda_powertools.logging import correlation_paths

from shared.aftersales.decision_routes import router as aftersales
from shared.catalog.routes import merchant
from shared.core.api import http_app, serve
from shared.core.observability import instrumented

app = http_app(merchant, aftersales)


@instrumented(correlation_paths.API_GATEWAY_HTTP)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return serve(app, event, context)
