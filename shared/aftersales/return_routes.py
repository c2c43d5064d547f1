"""HTTP routes of returns (shared/aftersales/returns.py), served by api_orders with the other case routes."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.api_gateway import Router

from shared.aftersales import returns
from shared.aftersales.models import CaseId, CaseView, ReceiveIn, ReturnShipmentIn
from shared.api.declaration import route
from shared.core.api import require_role
from shared.core.roles import Role

router = Router()


# POST /after-sales/{case_id}/return-shipment
@route(router, "giveReturnShipment", summary="Give the return parcel's carrier and tracking number",
       responses={200: {"description": "The case, RETURN_IN_TRANSIT (the same answer for a retry)"}})
def give_return_shipment(case_id: CaseId, body: ReturnShipmentIn) -> CaseView:
    caller = require_role(router, Role.SHOPPER)
    return CaseView.of(returns.give_shipment(caller, case_id, body))


# POST /merchant/after-sales/{case_id}/receive
@route(router, "receiveReturn", summary="Record the returned goods received, per line intact or damaged",
       responses={200: {"description": "The case, RECEIVED (the same answer for a retry)"}})
def receive_return(case_id: CaseId, body: ReceiveIn) -> CaseView:
    caller = require_role(router, Role.MERCHANT)
    return CaseView.of(returns.receive(caller, case_id, body))
