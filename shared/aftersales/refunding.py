"""A case's refund: granted once per case (a decision record on the order's payment ledger), then executed.

`start_refund` moves the case to REFUNDING and writes the grant `payment.refunds[refund_key(case_id)]` in ONE
transaction, conditional on the case's status and version and on the order's version (so the cap "never more
than captured minus refunded or pending" is checked against the ledger written). Only then is the provider
called, with an `out_refund_no` derived from (order, grant): a retry after a timeout, a crash, or the REFUND timer
sends the same number and the provider refunds once. The grant is keyed per case (one action), never per
amount. When the grant settles (the provider's answer, its notification, or a query), `on_settled` moves the
case REFUNDING -> REFUNDED; a failed grant goes to the ops inbox (`refunds.settle`) and the case waits there.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from shared.aftersales import store
from shared.aftersales.models import Case
from shared.aftersales.states import CaseStatus, check_move
from shared.aftersales.timers import CaseTimer, due_in
from shared.core import aws, ddb
from shared.core.clock import parse_iso
from shared.core.config import AfterSalesSettings, settings
from shared.core.errors import Conflict, Unavailable, Unprocessable
from shared.orders import store as orders
from shared.orders.aggregate import Order
from shared.payments import refunds
from shared.payments import store as payments_store

KEY_PREFIX = "as-"
STUCK_AFTER = timedelta(hours=1)  # a case refund unsettled this long goes to the ops inbox, once


def refund_key(case_id: str) -> str:
    """The grant's key on the order's ledger: `as-` + the case id's own 8 characters (unique per order), so the
    provider's refund number (`<order_id>-as-xxxxxxxx`) fits WeChat's 64 characters."""
    return KEY_PREFIX + case_id[27:]


def case_id_of(order_id: str, key: str) -> str | None:
    """The case a ledger grant belongs to, or None for a grant that is not a case's (an order exit's)."""
    return "a" + order_id[1:] + key[len(KEY_PREFIX):] if key.startswith(KEY_PREFIX) else None


def _resume_after() -> float:
    return float(settings(AfterSalesSettings).case_refund_resume_seconds)


def start_refund(case: Case, *, actor: str, reason: str, amount_fen: int | None = None,
                 guard: Callable[[Case], None] | None = None,
                 check_order: Callable[[Order], None] | None = None) -> Case:
    """Refund the case (`refund_total_fen`, or a smaller `amount_fen` an arbiter decided) once, and return it.

    Idempotent: a case already REFUNDING or REFUNDED only has its grant (re)sent if it was never accepted.
    409 `refund_exceeds_capture` when the order's capture minus what is refunded or pending cannot cover it.
    `guard`, if given, sees the case before every attempt (the first read and each re-read after a lost race)
    and raises to stop: an arbiter's lease (shared/aftersales/disputes.py).
    `check_order` (a flash refund's rule) sees every fresh read of the order the grant will be conditional on,
    and raises Conflict when the order no longer qualifies (e.g. it shipped): the grant's write checks the
    order's version, so the check holds at the moment of the write."""
    amount = case.refund_total_fen if amount_fen is None else amount_fen
    if type(amount) is not int or not 0 < amount <= case.refund_total_fen:
        raise Unprocessable(f"A case refund is 1 to {case.refund_total_fen} fen.", code="invalid_refund_amount",
                            maximum_fen=case.refund_total_fen)
    key = refund_key(case.case_id)
    for _ in ddb.contended():
        if guard is not None:
            guard(case)
        if case.status not in (CaseStatus.REFUNDING, CaseStatus.REFUNDED):
            order = orders.require(case.order_id, consistent=True)
            if check_order is not None:
                check_order(order)
            payment = order.payment
            if not payment:
                raise Conflict("The order has no captured payment to refund.", code="not_paid")
            granted = (payment.get("refunds") or {}).get(key)
            if granted is None:
                left = int(payment["amount_fen"]) - refunds.committed_fen(payment)
                if amount > left:
                    raise Conflict(f"A refund of {amount} fen would exceed the {left} fen captured and not refunded.",
                                   code="refund_exceeds_capture", refundable_fen=left)
                record = refunds.grant(order.order_id, key, amount, reason)
                grant = [{"Update": payments_store.grant_update(order, key, record, actor=actor, reason=reason)}]
            else:
                grant = []  # granted by an earlier attempt whose case move was lost: never possible, but harmless
            move = store.transition_update(case, CaseStatus.REFUNDING, actor=actor, reason=reason, set_fields={
                "refund_key": key, "refund_amount_fen": amount, **due_in(CaseTimer.REFUND, case.case_id,
                                                                          _resume_after())})
            try:
                ddb.transact_write([{"Update": move}, *grant])
            except aws.ClientError as error:
                if not ddb.cancellation_codes(error):
                    raise
                current = store.get(case.case_id, consistent=True)
                if current is None:
                    raise
                case = current
                if case.status not in (CaseStatus.REFUNDING, CaseStatus.REFUNDED):
                    check_move(case.status, CaseStatus.REFUNDING)  # 409 if it left the way to a refund
                continue  # the case or the order moved: read both again
        return execute(store.get(case.case_id, consistent=True) or case, actor=actor)
    raise Conflict("The order kept changing; retry.", code="order_changed")


def execute(case: Case, *, actor: str) -> Case:
    """Send the case's grant to the provider unless it was accepted or settled already (same out_refund_no every
    time); then move the case on if the refund settled. A provider outage raises Unavailable: the REFUND timer
    sends it again."""
    if case.status is not CaseStatus.REFUNDING:
        return case
    key = case.refund_key or refund_key(case.case_id)
    order = orders.require(case.order_id, consistent=True)
    record = ((order.payment or {}).get("refunds") or {}).get(key)
    if record is None:
        return case
    if record["state"] == "requested" and not record.get("provider_refund_id"):
        order = refunds.refund(order, int(record["amount_fen"]), refund_key=key, reason=record["reason"], actor=actor)
    settled = ((order.payment or {}).get("refunds") or {}).get(key) or record
    if settled["state"] == "succeeded":
        on_settled(case.order_id, key, succeeded=True)
    return store.get(case.case_id, consistent=True) or case


def on_settled(order_id: str, key: str, *, succeeded: bool) -> None:
    """A case grant settled (`refunds.settle` calls this for every `as-` key): REFUNDING -> REFUNDED once. A
    failed grant leaves the case REFUNDING; `refunds.settle` has put it in the ops inbox."""
    case_id = case_id_of(order_id, key)
    if case_id is None or not succeeded:
        return
    for _ in ddb.contended():
        case = store.get(case_id, consistent=True)
        if case is None or case.status is not CaseStatus.REFUNDING:
            return
        try:
            store.transition(case, CaseStatus.REFUNDED, actor="system:refunds", reason="refund_succeeded")
            return
        except Conflict:
            continue


def resume(case: Case, moment: datetime) -> str:
    """The REFUND timer: a case whose grant is not settled `case_refund_resume_seconds` after it was written."""
    if case.status is not CaseStatus.REFUNDING:
        return "cleared" if store.clear_timer(case) else "raced"
    key = case.refund_key or refund_key(case.case_id)
    order = orders.require(case.order_id, consistent=True)
    record: dict[str, Any] = dict(((order.payment or {}).get("refunds") or {}).get(key) or {})
    if record.get("state") == "succeeded":
        on_settled(case.order_id, key, succeeded=True)
        return "settled"
    if record.get("state") == "failed" or not record:
        return "abnormal" if store.clear_timer(case) else "raced"  # in the ops inbox (refund_issue)
    if record.get("provider_refund_id"):
        outcome = "pending"  # accepted: its notification settles it, or (Alipay) the refund query says it did
        try:
            state = refunds.confirm(case.order_id, key, actor="system:sweeper")
        except Unavailable:
            state = "requested"
        if state == "succeeded":
            return "settled"  # `refunds.settle` moved the case to REFUNDED (and the move dropped this timer)
        if state == "failed":
            return "abnormal" if store.clear_timer(case) else "raced"  # in the ops inbox (refund_issue)
    else:
        try:
            execute(case, actor="system:sweeper")
            return "refunded"
        except Unavailable:
            outcome = "retry"
    if parse_iso(record.get("at", "")) + STUCK_AFTER <= moment:
        from shared.ops import inbox

        inbox.record("refund_issue", f"{case.order_id}:{key}",
                     {"order_id": case.order_id, "case_id": case.case_id, "refund_key": key, "detail": outcome},
                     summary=f"refund of case {case.case_id} not settled for over an hour ({outcome})")
    store.move_timer(case, due_in(CaseTimer.REFUND, case.case_id, _resume_after(), start=moment))
    return outcome
