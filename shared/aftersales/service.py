"""Opening and reading after-sales cases (issue 13 item 2).

Which orders take a case: paid ones whose fulfilment has started (FULFILLING, SHIPPED, DELIVERED) and COMPLETED
ones within `AFTER_SALES_WINDOW_SECONDS` of completing. Before fulfilment (PLACED ... IN_REVIEW) the shopper
cancels instead: 409 `cancel_instead` with `next: "cancel"`. `return_and_refund` needs physical goods, and the
reason code must allow the type. Quantities: at most what was bought minus what open or finished cases hold
(`store.put_new`). The shopper hears of the case from the outbox (shared/notifications/logic.py, case items).
"""

from __future__ import annotations

from datetime import timedelta

from shared.aftersales import events, flash, policy, store, timers
from shared.aftersales.models import REASONS_BY_CODE, Case, CaseLine, OpenCase
from shared.aftersales.states import CaseStatus, CaseType
from shared.aftersales.timers import CaseTimer
from shared.core import ddb
from shared.core.auth import Principal
from shared.core.clock import now, now_iso, parse_iso
from shared.core.config import AfterSalesSettings, settings
from shared.core.errors import Conflict, NotFound, Unprocessable
from shared.core.roles import Role
from shared.orders import events as order_events
from shared.orders import logic as order_logic
from shared.orders import store as orders
from shared.orders.aggregate import Line, Order
from shared.orders.models import OrderStatus

S = OrderStatus
# Stages that take a case (COMPLETED only within the window: `check_stage`).
CASE_STAGES = frozenset({S.FULFILLING, S.SHIPPED, S.DELIVERED, S.COMPLETED})
CANCEL_STAGES = frozenset({S.PLACED, S.AWAITING_PAYMENT, S.PAID, S.IN_REVIEW})
OPEN_ATTEMPTS = 10  # contended claim counters: a loser re-reads and decides again


def window() -> timedelta:
    return timedelta(seconds=settings(AfterSalesSettings).after_sales_window_seconds)


def _completed_at(order: Order) -> str | None:
    for event in reversed(order.events):
        if isinstance(event, order_events.StatusChanged) and event.to_status is S.COMPLETED:
            return event.at
    return None


def check_stage(order: Order) -> None:
    if order.status in CANCEL_STAGES:
        raise Conflict(f"An order in {order.status.value} is cancelled, not taken to after-sales: POST "
                       f"/orders/{order.order_id}/cancel.", code="cancel_instead",
                       current_status=order.status.value, next="cancel")
    if order.status not in CASE_STAGES:
        raise Conflict(f"An order in {order.status.value} takes no after-sales case.",
                       code="order_not_eligible", current_status=order.status.value)
    if order.status is S.COMPLETED:
        completed = _completed_at(order) or order.updated_at
        if parse_iso(completed) + window() <= now():
            raise Conflict("The after-sales window of this order has closed.", code="after_sales_window_closed",
                           current_status=order.status.value)


def _lines(order: Order, body: OpenCase) -> dict[str, tuple[Line, int]]:
    """The order line each requested SKU refers to, with the units asked for."""
    by_sku = {line["sku"]: line for line in order.items}
    asked: dict[str, tuple[Line, int]] = {}
    for line in body.lines:
        if line.sku in asked:
            raise Unprocessable(f"SKU {line.sku!r} is listed twice.", code="duplicate_line", sku=line.sku)
        if line.sku not in by_sku:
            raise Unprocessable(f"The order holds no SKU {line.sku!r}.", code="sku_not_in_order", sku=line.sku)
        asked[line.sku] = (by_sku[line.sku], line.quantity)
    return asked


def check_request(order: Order, body: OpenCase) -> dict[str, tuple[Line, int]]:
    reason = REASONS_BY_CODE.get(body.reason_code)
    if reason is None:
        raise Unprocessable(f"Unknown reason code {body.reason_code!r}: see GET /after-sales/reasons.",
                            code="unknown_reason")
    if body.type not in reason.types:
        raise Unprocessable(f"Reason {reason.code!r} does not open a {body.type.value} case.",
                            code="reason_not_allowed_for_type", allowed_types=[t.value for t in reason.types])
    asked = _lines(order, body)
    if body.type is CaseType.RETURN_AND_REFUND and any(line["kind"] != "physical" for line, _ in asked.values()):
        raise Unprocessable("Only physical goods are returned; ask for refund_only.",
                            code="return_needs_physical_goods")
    policy.check(order, body, asked, now())  # 7-day no-reason returns: the SKU's policy and the window
    return asked


def refundable_fen(line: Line, claimed_before: int, quantity: int, held_fen: int | None = None) -> int:
    """The rounding rule (docs/aftersales.md): a line's first n claimed units are worth floor(total * n / bought);
    a case claiming units c+1 .. c+q is owed that at c+q minus `held_fen`, what the line's cases still holding
    units are owed (floor(total * c / bought) while no case was closed), never below 0. So the cases holding a
    line's units never add up to more than its total, and to exactly its total once every unit is claimed, even
    after an earlier case was closed and its units claimed again."""
    total, bought = line["line_total_fen"], line["quantity"]
    held = total * claimed_before // bought if held_fen is None else held_fen
    return max(0, total * (claimed_before + quantity) // bought - held)


def held_fen(order_id: str) -> dict[str, int]:
    """Per SKU, what the order's cases that hold their units are owed (every case but one closed without a
    refund, whose units went back to the claim counters). Read after the counters: a case opened or closed after
    that read moves a counter, so the write conditioned on them fails and everything is read again."""
    held: dict[str, int] = {}
    for case in store.for_order(order_id):
        if not case.claims_released:
            for line in case.lines:
                held[line.sku] = held.get(line.sku, 0) + line.refundable_fen
    return held


def _replayed(existing: Case, shopper_id: str, fingerprint: str) -> Case:
    if existing.request_hash != fingerprint or existing.shopper_id != shopper_id:
        raise Unprocessable("This Idempotency-Key was used with a different body.", code="idempotency_key_reused")
    return existing


def open_case(caller: Principal, order_id: str, idempotency_key: str | None, body: OpenCase) -> Case:
    key = order_logic.validate_idempotency_key(idempotency_key)
    order = orders.get(order_id, consistent=True)
    if order is None or order.shopper_id != caller.sub:
        raise NotFound(f"No order {order_id!r}.", code="order_not_found")
    case_id = store.case_id_for(caller.sub, order_id, key)
    fingerprint = order_logic.request_hash(body)
    existing = store.get(case_id, consistent=True)
    if existing is not None:
        return flash.after_open(_replayed(existing, caller.sub, fingerprint))  # decided once: resumes only
    for _ in ddb.contended(OPEN_ATTEMPTS):
        check_stage(order)
        asked = check_request(order, body)
        claimed = store.claims(order_id)
        for sku, (line, quantity) in asked.items():
            left = line["quantity"] - claimed.get(sku, 0)
            if quantity > left:
                existing = store.get(case_id, consistent=True)  # a concurrent retry of this very request took them
                if existing is not None:
                    return flash.after_open(_replayed(existing, caller.sub, fingerprint))
                raise Conflict(f"Only {left} unit(s) of {sku!r} can still be claimed.", code="quantity_exceeded",
                               sku=sku, claimable=left)
        case = _new_case(caller.sub, order, case_id, body, fingerprint, asked, claimed, held_fen(order_id))
        try:
            store.put_new(case, claimed, {sku: line["quantity"] for sku, (line, _) in asked.items()}, CASE_STAGES)
            return flash.after_open(case)  # an eligible refund_only case is refunded now (闪电退款)
        except store.CaseExists:
            existing = store.get(case_id, consistent=True)
            if existing is not None:
                return flash.after_open(_replayed(existing, caller.sub, fingerprint))
        except store.OrderMoved:
            order = orders.require(order_id, consistent=True)
            check_stage(order)  # raises for a stage that takes no case; else the order moved within them
        except store.ClaimRaced:
            pass  # another case claimed units of these SKUs meanwhile: read the counts again
    raise Conflict("Too many cases were opened on this order at once; retry with the same Idempotency-Key.",
                   code="after_sales_busy")


def _new_case(shopper_id: str, order: Order, case_id: str, body: OpenCase, fingerprint: str,
              asked: dict[str, tuple[Line, int]], claimed: dict[str, int], held: dict[str, int]) -> Case:
    at = now_iso()
    lines = [
        CaseLine(sku=sku, title=line["title"], kind=line["kind"], quantity=quantity,
                 unit_price_fen=line["unit_price_fen"], claimed_from=claimed.get(sku, 0),
                 refundable_fen=refundable_fen(line, claimed.get(sku, 0), quantity, held.get(sku, 0)))
        for sku, (line, quantity) in asked.items()
    ]
    return Case.model_validate({
        **store.case_key_values(order.order_id, case_id),
        **store.shopper_index_values(shopper_id, at, case_id),
        **store.shop_index_values(order.shop_id, at, case_id),
        # the merchant's time to answer (shared/aftersales/decisions.py merchant_timed_out)
        **timers.due_in(CaseTimer.MERCHANT, case_id, settings(AfterSalesSettings).merchant_reply_seconds),
        "case_id": case_id, "order_id": order.order_id, "shopper_id": shopper_id, "shop_id": order.shop_id,
        "type": body.type, "status": CaseStatus.REQUESTED, "version": 1, "lines": lines,
        "refund_total_fen": sum(line.refundable_fen for line in lines), "currency": order.currency,
        "reason_code": body.reason_code, "note": body.note, "request_hash": fingerprint,
        "created_at": at, "updated_at": at,
        "events": [events.opened(shopper_id=shopper_id, reason_code=body.reason_code, at=at)],
    })


def may_read(caller: Principal, shopper_id: str, shop_id: str) -> bool:
    """The owner, the shop's merchant and ops; everyone else gets 404 so ids cannot be probed."""
    return (shopper_id == caller.sub or (caller.has(Role.MERCHANT) and shop_id == caller.sub)
            or caller.has(Role.OPS))


def readable_case(caller: Principal, case_id: str) -> Case:
    case = store.get(case_id)
    if case is None or not may_read(caller, case.shopper_id, case.shop_id):
        raise NotFound(f"No after-sales case {case_id!r}.", code="case_not_found")
    return case


# Where a shopper may still withdraw: nothing has moved yet, or a refusal or dispute they let go. Not once the
# goods are on their way back or received (the merchant would hold them with no refund) nor once money moves.
WITHDRAWABLE = frozenset({CaseStatus.REQUESTED, CaseStatus.APPROVED, CaseStatus.AWAITING_RETURN,
                          CaseStatus.REJECTED, CaseStatus.DISPUTED})


def withdraw(caller: Principal, case_id: str) -> Case:
    """The shopper withdraws their case: CLOSED, the units back to the claim counters (`store.close`), any timer
    and dispute-queue entry dropped in the same write. A retry answers the closed case; 404 for anyone else's."""
    for _ in ddb.contended():
        case = store.get(case_id, consistent=True)
        if case is None or case.shopper_id != caller.sub:
            raise NotFound(f"No after-sales case {case_id!r}.", code="case_not_found")
        if case.status is CaseStatus.CLOSED and case.events[-1].actor == f"shopper:{caller.sub}":
            return case
        if case.status not in WITHDRAWABLE:
            raise Conflict(f"A case in {case.status.value} can no longer be withdrawn.", code="not_withdrawable",
                           current_status=case.status.value)
        try:
            return store.close(case, actor=f"shopper:{caller.sub}", reason="withdrawn")
        except Conflict as conflict:
            if conflict.code != "case_changed":
                raise
    raise Conflict("The case kept changing; retry.", code="case_changed")
