"""POST /orders, the peak path: kept in its own module so the intake function imports nothing else.

This router is the contract (OpenAPI, validation). The intake function answers valid requests through
`shared.orders.intake_http` without building it; both run `intake.accept`."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Header

from shared.api.declaration import route
from shared.core.api import http_event
from shared.orders import intake as intake_logic
from shared.orders.models import OrderAccepted, PlaceOrder

router = Router()


# POST /orders
@route(router, "placeOrder", summary="Place an order", responses={
    202: {"description": "Accepted; poll GET /orders/{order_id} or watch notifications"}})
def place_order(
    body: PlaceOrder,
    idempotency_key: Annotated[
        str | None, Header(alias="Idempotency-Key", description="8-64 chars, e.g. a UUID")
    ] = None,
    device_id: Annotated[str | None, Header(alias="X-Device-Id", max_length=64)] = None,
) -> Response[OrderAccepted]:
    context = http_event(router).request_context
    accepted = intake_logic.accept(context.authorizer.jwt_claim, context.http.source_ip, idempotency_key,
                                   device_id, body)
    return Response(status_code=202, body=accepted, content_type="application/json",
                    headers={"Location": f"/orders/{accepted.order_id}"})


