"""Returns (退货退款, issue 13 item 4): an approved `return_and_refund` case waits for the goods, follows the
return parcel, and is received by the merchant before its refund.

    REQUESTED -> APPROVED -> AWAITING_RETURN     `await_return` (the merchant's approve, or its timeout): the
                                                 return address is fixed on the case, the RETURN_SHIP timer armed
    AWAITING_RETURN -> RETURN_IN_TRANSIT         `give_shipment` (the shopper's carrier and tracking number): the
                                                 parcel is tracked through the same Kuaidi100/KDNiao pushes as
                                                 outbound ones (`apply_tracking`, from shared/logistics/service.py)
    AWAITING_RETURN -> CLOSED                    `return_not_sent` (RETURN_SHIP timer): nothing sent in time, the
                                                 units go back to the claim counters (`store.close`)
    RETURN_IN_TRANSIT -> RECEIVED                `receive` (the shop's merchant, per line intact or damaged): intact
                                                 units back to sellable stock in the same transaction, the
                                                 return-shipping compensation granted there too (no-reason
                                                 returns), the MERCHANT timer armed for the receipt check; when it
                                                 fires the refund goes out (shared/aftersales/decisions.py)

Every move is one conditional write on the case's status and version (`store.transition_update`); each
step's retry finds the case moved and answers it unchanged, so the routes are idempotent for the same body.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

from shared.aftersales import store, timers
from shared.aftersales.models import Case, ReturnAddress
from shared.aftersales.states import CaseStatus, CaseType, check_move
from shared.aftersales.timers import CaseTimer
from shared.core.config import AfterSalesSettings, settings
from shared.core.errors import Conflict
from shared.orders import store as orders
from shared.orders.aggregate import Order

logger = logging.getLogger("order24.aftersales.returns")
C = CaseStatus
APPROVED_RESUME_SECONDS = 60  # a crash between the two moves of `await_return`: the RETURN_SHIP timer finishes it
# The demo shop's return desk, at the warehouse the goods shipped from (a shop without its own address)
DEMO_RETURN_ADDRESS = {"recipient": "order24 退货组", "phone": "4008000024", "province": "浙江", "city": "杭州",
                       "line": "余杭区仓前街道 1 号 {warehouse} 退货收货处"}


def _return_settings() -> AfterSalesSettings:
    return settings(AfterSalesSettings)


def return_address(order: Order) -> ReturnAddress:
    """The shop's return address (`AFTER_SALES_RETURN_ADDRESSES`), else the demo shop's return desk at the
    warehouse that shipped the goods. The catalog keeps no shop profile yet, so the setting is the shop level."""
    warehouse = (order.shipment or {}).get("warehouse")
    configured = _return_settings().return_addresses
    shops: dict[str, Any] = json.loads(configured) if configured.strip() else {}
    own = shops.get(order.shop_id)
    if isinstance(own, dict):
        return ReturnAddress.model_validate({**own, "warehouse": own.get("warehouse", warehouse)})
    name = (order.shipment or {}).get("warehouse_name") or "仓库"
    return ReturnAddress.model_validate({**DEMO_RETURN_ADDRESS, "line": DEMO_RETURN_ADDRESS["line"].format(
        warehouse=name), "warehouse": warehouse})


def await_return(case: Case, *, actor: str, reason: str) -> Case:
    """Approve a `return_and_refund` case and wait for the goods: REQUESTED -> APPROVED -> AWAITING_RETURN (two
    moves, both in the history), or APPROVED -> AWAITING_RETURN. Fixes the return address on the case and arms
    the RETURN_SHIP timer (`return_ship_seconds`). Idempotent: a case already waiting (or further along the
    return) is answered as it is. 409 `not_a_return` for a refund-only case; 409 `illegal_case_transition` for a
    case that left the way (rejected, closed...); 409 `case_changed` on a lost race."""
    if case.type is not CaseType.RETURN_AND_REFUND:
        raise Conflict("Only a return_and_refund case waits for goods.", code="not_a_return",
                       current_status=case.status.value)
    if case.status in (C.AWAITING_RETURN, C.RETURN_IN_TRANSIT, C.RECEIVED):
        return case
    if case.status is C.REQUESTED:
        # the first move arms a short RETURN_SHIP timer, so a crash before the second one is finished by the sweeper
        case = store.transition(case, C.APPROVED, actor=actor, reason=reason, set_fields={
            **timers.due_in(CaseTimer.RETURN_SHIP, case.case_id, APPROVED_RESUME_SECONDS)})
    check_move(case.status, C.AWAITING_RETURN)
    address = return_address(orders.require(case.order_id, consistent=True))
    return store.transition(case, C.AWAITING_RETURN, actor=actor, reason=reason, set_fields={
        "return_address": address.model_dump(exclude_none=True),
        **timers.due_in(CaseTimer.RETURN_SHIP, case.case_id, _return_settings().return_ship_seconds)})


def return_not_sent(case: Case, moment: datetime) -> str:
    """The RETURN_SHIP timer. AWAITING_RETURN past its time: the shopper sent nothing, the case closes and its
    units go back to the claim counters. APPROVED: `await_return` was interrupted between its moves; finish it."""
    try:
        if case.status is C.AWAITING_RETURN:
            store.close(case, actor="system:sweeper", reason="return_not_sent")
            return "closed"
        if case.status is C.APPROVED and case.type is CaseType.RETURN_AND_REFUND:
            await_return(case, actor="system:sweeper", reason="approved")
            return "resumed"
    except Conflict:
        return "raced"  # the shopper sent it (or the case moved) meanwhile: the move dropped this timer
    return "cleared" if store.clear_timer(case) else "raced"
