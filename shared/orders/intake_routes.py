"""POST /orders, the peak path: kept in its own module so the intake function imports nothing else."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Header

from shared.core.api import require_role
from shared.orders import intake as intake_logic
from shared.orders import logic
from shared.orders.models import OrderAccepted, PlaceOrder

router = Router()


@router.post("/orders", summary="Place an order", tags=["orders"], responses={
    202: {"description": "Accepted; poll GET /orders/{order_id} or watch notifications"}})
def place_order(
    body: PlaceOrder,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", description="8-64 chars, e.g. a UUID")] = None,
    device_id: Annotated[str | None, Header(alias="X-Device-Id", max_length=64)] = None,
) -> Response[OrderAccepted]:
    caller = require_role(router, "shopper")
    key = logic.validate_idempotency_key(idempotency_key)
    source_ip = router.current_event.request_context.http.source_ip
    accepted = intake_logic.place(intake_logic.Caller(caller.sub, source_ip, device_id), key, body)
    return Response(status_code=202, body=accepted, content_type="application/json",
                    headers={"Location": f"/orders/{accepted.order_id}"})


