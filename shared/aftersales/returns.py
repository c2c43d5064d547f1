"""Returns (退货退款, issue 13 item 4): an approved `return_and_refund` case waits for the goods, follows the
return parcel, and is received by the merchant before its refund.

    REQUESTED -> APPROVED -> AWAITING_RETURN     `await_return` (the merchant's approve, or its timeout): the
                                                 return address is fixed on the case, the RETURN_SHIP timer armed
    AWAITING_RETURN -> RETURN_IN_TRANSIT         `give_shipment` (the shopper's carrier and tracking number): the
                                                 parcel is tracked through the same Kuaidi100/KDNiao pushes as
                                                 outbound ones (`apply_tracking`, from shared/logistics/service.py)
    AWAITING_RETURN -> CLOSED                    `return_not_sent` (RETURN_SHIP timer): nothing sent in time, the
                                                 units go back to the claim counters (`store.close`)
    RETURN_IN_TRANSIT -> RECEIVED (assumed)      `return_not_sent` (RETURN_SHIP, re-armed by the parcel's 签收):
                                                 the merchant recorded nothing in time; a parcel never signed for
                                                 goes to the ops inbox instead
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
from collections import Counter
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shared.aftersales import store, timers
from shared.aftersales.models import (
    Case,
    Receipt,
    ReceiptLine,
    ReceiveIn,
    ReturnAddress,
    ReturnShipment,
    ReturnShipmentIn,
    ReturnTrackingStep,
)
from shared.aftersales.states import CaseStatus, CaseType, check_move
from shared.aftersales.timers import CaseTimer
from shared.core import aws, ddb
from shared.core.auth import Principal
from shared.core.clock import now
from shared.core.config import AfterSalesSettings, settings
from shared.core.errors import Conflict, NotFound, ProviderNotConfigured, Unprocessable
from shared.core.roles import Role
from shared.orders import store as orders
from shared.orders.aggregate import Order

if TYPE_CHECKING:
    from shared.logistics.models import TrackingUpdate

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
    units go back to the claim counters. APPROVED: `await_return` was interrupted between its moves; finish it.
    RETURN_IN_TRANSIT, signed for (re-armed when the courier reports 签收): the merchant recorded no receipt in
    time, and is taken to have received it (`_receipt_assumed`); not signed for: ops look at it (`_stalled`)."""
    try:
        if case.status is C.AWAITING_RETURN:
            store.close(case, actor="system:sweeper", reason="return_not_sent")
            return "closed"
        if case.status is C.APPROVED and case.type is CaseType.RETURN_AND_REFUND:
            await_return(case, actor="system:sweeper", reason="approved")
            return "resumed"
        if case.status is C.RETURN_IN_TRANSIT and _signed(case):
            _receipt_assumed(case)
            return "receipt_assumed"
        if case.status is C.RETURN_IN_TRANSIT:
            return _stalled(case, moment)
    except Conflict:
        return "raced"  # the shopper sent it (or the case moved) meanwhile: the move dropped this timer
    return "cleared" if store.clear_timer(case) else "raced"


def _stalled(case: Case, moment: datetime) -> str:
    """A return parcel not signed for `return_ship_seconds` after it was given (lost, never picked up, or not
    tracked): ops look at it (once per case), and the timer waits as long again."""
    from shared.ops import inbox

    inbox.record("trouble_flag", f"{case.case_id}:return-stalled",
                 {"order_id": case.order_id, "case_id": case.case_id,
                  "return_shipment": case.return_shipment.model_dump(mode="json") if case.return_shipment else None},
                 summary=f"return parcel of case {case.case_id} not signed for in time")
    moved = store.move_timer(case, timers.due_in(CaseTimer.RETURN_SHIP, case.case_id,
                                                 _return_settings().return_ship_seconds, start=moment))
    return "stalled" if moved else "raced"


def _signed(case: Case) -> bool:
    """Whether the courier reported the return parcel signed for (签收) at the merchant's."""
    return any(step.state == "SIGNED" for step in case.return_tracking or [])


def _not_a_return(case: Case) -> Conflict:
    return Conflict("Only a return_and_refund case sends goods back.", code="not_a_return",
                    current_status=case.status.value)


# ---------------------------------------------------------------- the shopper sends the goods back

def _subscribe(case: Case, carrier: str, number: str) -> str:
    """Ask the tracking partner to push this parcel's states, as for outbound parcels (shared/fulfilment/
    shipment.py). The shopper's parcel left already, so a refusal or a missing configuration does not stop the
    case: it is recorded on the shipment and filed for ops, who follow it by hand."""
    from shared.core.config import public_api_url
    from shared.fulfilment import shipment as outbound
    from shared.logistics.adapters.errors import SubscriptionFailed

    try:
        outbound.subscriber().subscribe(carrier, number, f"{public_api_url()}{outbound.NOTIFY_PATH}")
        return "active"
    except ProviderNotConfigured:
        outcome = "not_configured"
    except SubscriptionFailed as error:
        outcome = f"refused:{error.code}"
    from shared.ops import inbox

    inbox.record("trouble_flag", f"{case.case_id}:return-subscription",
                 {"order_id": case.order_id, "case_id": case.case_id, "carrier": carrier, "detail": outcome},
                 summary=f"return parcel of case {case.case_id} not tracked ({outcome})")
    return outcome


def give_shipment(caller: Principal, case_id: str, body: ReturnShipmentIn) -> Case:
    """The shopper's return parcel: AWAITING_RETURN -> RETURN_IN_TRANSIT with `return_shipment`. Idempotent for
    the same carrier and number; another one answers 409 `return_shipment_differs`. 409 `tracking_number_taken`
    when the number belongs to another parcel (the outbound one, another case's)."""
    case = store.get(case_id, consistent=True)
    if case is None or case.shopper_id != caller.sub:
        raise NotFound(f"No after-sales case {case_id!r}.", code="case_not_found")
    if case.type is not CaseType.RETURN_AND_REFUND:
        raise _not_a_return(case)
    given = (body.carrier, body.tracking_no)
    if case.return_shipment is not None:
        if (case.return_shipment.carrier, case.return_shipment.tracking_no) == given:
            return case
        raise Conflict("Another return shipment was given for this case.", code="return_shipment_differs",
                       current_status=case.status.value)
    if case.status is C.APPROVED:  # an approval interrupted between its moves: finish it first
        case = await_return(case, actor="system:returns", reason="approved")
    check_move(case.status, C.RETURN_IN_TRANSIT)
    from shared.logistics import store as tracking

    try:
        tracking.put_return_lookup(body.carrier, body.tracking_no, case.order_id, case.case_id)
    except ValueError:
        raise Conflict("This tracking number belongs to another parcel.", code="tracking_number_taken",
                       current_status=case.status.value) from None
    shipment = ReturnShipment(carrier=body.carrier, tracking_no=body.tracking_no, at=now(),
                              subscription=_subscribe(case, body.carrier, body.tracking_no))
    try:
        # the RETURN_SHIP timer again: a parcel never signed for goes to ops (`_stalled`)
        return store.transition(case, C.RETURN_IN_TRANSIT, actor=f"shopper:{caller.sub}", reason="return_shipped",
                                set_fields={"return_shipment": shipment.model_dump(), **timers.due_in(
                                    CaseTimer.RETURN_SHIP, case.case_id, _return_settings().return_ship_seconds)})
    except Conflict:
        current = store.get(case_id, consistent=True)  # a concurrent retry of the same request won
        if current is not None and current.return_shipment is not None and (
                current.return_shipment.carrier, current.return_shipment.tracking_no) == given:
            return current
        raise


# ---------------------------------------------------------------- the courier's pushes for the return parcel

TRACKING_ATTEMPTS = 4
SEEN_KEEP = 50


def apply_tracking(case_id: str, update: TrackingUpdate) -> str:
    """A verified push for a return parcel (shared/logistics/service.py finds the case by its lookup item).
    Each state the parcel reaches (揽收, 在途, 派件, 签收...) is appended to `return_tracking` once, forward only
    (`logistics.models.advances`), never from a push older than the last step; a push seen before (its event
    key) changes nothing. Not a case move: the write is conditional on the tracking's own revision, so it never
    races the case's status and version. Returns duplicate | applied | kept | unmatched."""
    from shared.logistics.models import TrackingState, advances
    from shared.logistics.service import TryAgain

    for _ in range(TRACKING_ATTEMPTS):
        case = store.get(case_id, consistent=True)
        if case is None:
            return "unmatched"
        seen = case.return_tracking_seen or []
        if update.event_key in seen:
            return "duplicate"
        steps = case.return_tracking or []
        current = TrackingState(steps[-1].state) if steps else None
        stale = bool(steps and update.latest_at and update.latest_at < steps[-1].at)
        moved = not stale and advances(current, update.state)
        step = ReturnTrackingStep(state=update.state.value, raw_state=update.raw_state, partner=update.partner,
                                  at=update.latest_at or now())
        after = [*steps, step] if moved else steps
        if moved and update.state is TrackingState.SIGNED and case.status is C.RETURN_IN_TRANSIT:
            # signed for at the merchant's: the merchant has `merchant_reply_seconds` to record the receipt.
            # Armed before the tracking write, so a crash between the two is redone by the partner's retry.
            store.move_timer(case, timers.due_in(CaseTimer.RETURN_SHIP, case.case_id,
                                                 _return_settings().merchant_reply_seconds))
        rev = case.return_tracking_rev
        try:
            ddb.dynamodb().update_item(
                TableName=ddb.table(), Key=store.case_key(case_id),
                UpdateExpression="SET return_tracking = :steps, return_tracking_seen = :seen, "
                                 "return_tracking_rev = :next",
                ConditionExpression="attribute_not_exists(return_tracking_rev)" if rev is None
                else "return_tracking_rev = :rev",
                ExpressionAttributeValues=ddb.values(
                    steps=[s.model_dump() for s in after], seen=[*seen, update.event_key][-SEEN_KEEP:],
                    next=(rev or 0) + 1, **({} if rev is None else {"rev": rev})),
            )
        except aws.ClientError as error:
            if ddb.is_conditional_failure(error):
                continue  # another push wrote first: read again
            raise
        return "applied" if moved else "kept"
    raise TryAgain("return tracking contended")


# ---------------------------------------------------------------- the merchant receives the goods

def _receipt_lines(case: Case, body: ReceiveIn) -> list[ReceiptLine]:
    """Every unit of the case accounted for exactly once, intact or damaged (422 `receipt_mismatch`)."""
    expected = {line.sku: line.quantity for line in case.lines}
    pairs = Counter((line.sku, line.condition) for line in body.lines)
    got: Counter[str] = Counter()
    for line in body.lines:
        got[line.sku] += line.quantity
    if any(n > 1 for n in pairs.values()) or dict(got) != expected:
        raise Unprocessable("The receipt must list each returned unit once: per SKU, the case's quantity, split "
                            "into intact and damaged.", code="receipt_mismatch", expected=expected)
    return sorted((ReceiptLine(sku=line.sku, quantity=line.quantity, condition=line.condition)
                   for line in body.lines), key=lambda line: (line.sku, line.condition))


def compensation_fen(case: Case) -> int:
    """The rule: the platform pays the first-weight return shipping of a no-reason return, a flat
    RETURN_SHIPPING_COMPENSATION_FEN (the cap; 0 pays none), once per case, when the merchant records the goods
    received (whatever their condition: the shopper did send them). Nothing for other reasons (the merchant's
    fault: the merchant bears the shipping) nor for a return never received."""
    from shared.aftersales import policy

    if not policy.is_no_reason(case.type, case.reason_code):  # the one list of no-reason codes
        return 0
    return max(0, int(_return_settings().return_shipping_compensation_fen))


def _restock(order: Order, sku: str, units: int) -> dict[str, Any]:
    """Intact units back to sellable stock: the catalog bucket the order's units were reserved from."""
    from shared.orders.checkout import _bucket_update

    parts = (order.reservations or {}).get(sku) or [[0, units]]
    return {"Update": _bucket_update(sku, int(parts[0][0]), units)}


def receive(caller: Principal, case_id: str, body: ReceiveIn) -> Case:
    """The shop's merchant records the goods received (`record_receipt`). 404 for anyone else."""
    case = store.get(case_id, consistent=True)
    if case is None or not (caller.has(Role.MERCHANT) and case.shop_id == caller.sub):
        raise NotFound(f"No after-sales case {case_id!r}.", code="case_not_found")
    if case.type is not CaseType.RETURN_AND_REFUND:
        raise _not_a_return(case)
    return record_receipt(case, _receipt_lines(case, body), actor=f"merchant:{caller.sub}")


def record_receipt(case: Case, lines: list[ReceiptLine], *, actor: str, reason: str = "received") -> Case:
    """RETURN_IN_TRANSIT -> RECEIVED with the receipt, ONE transaction with: the intact units' restock, and for
    a no-reason return the compensation grant on the order. Arms the MERCHANT timer (`receipt_check_seconds`):
    unless the merchant raises a problem by then, the refund goes out (shared/aftersales/decisions.py). The
    compensation is then paid (shared/payments/compensation.py). Idempotent for the same receipt; another one
    answers 409 `receipt_differs`."""
    from shared.payments import compensation

    for _ in ddb.contended():
        if case.receipt is not None:
            if case.receipt.lines != lines:
                raise Conflict("The goods were received with another receipt.", code="receipt_differs",
                               current_status=case.status.value)
            break
        check_move(case.status, C.RECEIVED)
        order = orders.require(case.order_id, consistent=True)
        restocked: dict[str, int] = {}
        for line in lines:
            if line.condition == "intact":
                restocked[line.sku] = restocked.get(line.sku, 0) + line.quantity
        receipt = Receipt(lines=lines, restocked=restocked, warehouse=(order.shipment or {}).get("warehouse"),
                          at=now(), by=actor)
        writes = [_restock(order, sku, units) for sku, units in restocked.items()]
        amount, key = compensation_fen(case), compensation.key_for(case.case_id)
        fields: dict[str, Any] = {"receipt": receipt.model_dump(exclude_none=True)}
        if amount > 0:
            fields["compensation_key"] = key
            if key not in (order.compensations or {}):
                record = compensation.grant(order, key, amount_fen=amount, case_id=case.case_id,
                                            reason=compensation.RETURN_SHIPPING)
                writes.append({"Update": compensation.grant_update(order, key, record)})
        move = store.transition_update(case, C.RECEIVED, actor=actor, reason=reason, set_fields={
            **fields, **timers.due_in(CaseTimer.MERCHANT, case.case_id, _return_settings().receipt_check_seconds)})
        try:
            ddb.transact_write([{"Update": move}, *writes])
        except aws.ClientError as error:
            if not ddb.cancellation_codes(error):
                raise
            current = store.get(case.case_id, consistent=True)  # the case or the order moved: read both again
            if current is None:
                raise
            case = current
            continue
        case = store.get(case.case_id, consistent=True) or case
        break
    else:
        raise Conflict("The order kept changing; retry.", code="order_changed", current_status=case.status.value)
    if case.compensation_key:
        compensation.execute(case.order_id, case.compensation_key)
    return case


def _receipt_assumed(case: Case) -> Case:
    """The return parcel was signed for at the merchant's and the merchant recorded nothing within
    `merchant_reply_seconds`: the merchant is taken to have received it, as a silent merchant is taken to agree.
    Its condition was never checked, so nothing goes back on sale (`unchecked` units are not restocked)."""
    lines = [ReceiptLine(sku=line.sku, quantity=line.quantity, condition="unchecked") for line in case.lines]
    return record_receipt(case, lines, actor="system:sweeper", reason="receipt_assumed")
