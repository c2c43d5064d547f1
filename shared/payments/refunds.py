"""Refunds, outbound: idempotent on a refund key, never more than was captured.

`payment.refunds[refund_key]` is written (state `requested`) with a conditional write BEFORE the provider is
called, so a retry finds it and never refunds twice; the provider sees an `out_refund_no` derived from
(order id, refund key), so even a retry after a crash mid-call is deduplicated on their side.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from shared.core.clock import iso, now, now_iso, parse_iso
from shared.core.errors import Conflict, Unavailable
from shared.orders import events, logic
from shared.orders import store as orders
from shared.orders.aggregate import Capture, Order, RefundRecord
from shared.orders.models import OrderStatus
from shared.payments import providers
from shared.payments import store as payments_store

logger = logging.getLogger("order24.refunds")
ATTEMPTS = 5
# the refund key of each whole-order exit (one refund per order and exit)
EXIT_REFUND_KEYS = {OrderStatus.REJECTED: "reject", OrderStatus.FAILED: "fail", OrderStatus.CANCELLED: "cancel"}
TIMER = "REFUND"  # the by_due kind of an exited order whose refund grant is not settled yet
RESUME_AFTER = timedelta(minutes=2)  # a refund normally settles within the request: this is the safety net
STUCK_AFTER = timedelta(hours=1)  # a grant still unsent after this goes to the ops inbox (refund_issue)


def _exit_grant_key(order: Order, refund_key: str) -> bool:
    """Whether `refund_key` is the exit refund of the status the order rests in (its REFUND timer's grant)."""
    return EXIT_REFUND_KEYS.get(order.status) == refund_key


def committed_fen(payment: Capture) -> int:
    """Refunded or being refunded: every refund that has not failed."""
    return sum(
        r.get("amount_fen", 0) for r in (payment.get("refunds") or {}).values() if r.get("state") != "failed"
    )


def grant(order_id: str, refund_key: str, amount_fen: int, reason: str) -> RefundRecord:
    """The decision record of one refund (state `requested`), written before the provider is called; its
    `out_refund_no` is deterministic per (order, refund key), so every retry sends the same one."""
    return {
        "amount_fen": amount_fen,
        "reason": reason,
        "state": "requested",
        "out_refund_no": providers.out_refund_no(order_id, refund_key),
        "at": now_iso(),
    }


def refund(
    order: Order,
    amount_fen: int,
    *,
    refund_key: str,
    reason: str,
    actor: str,
    base: tuple[str, ...] = payments_store.CAPTURE,
) -> Order:
    """Refund `amount_fen` of the captured payment once per `refund_key`. Returns the updated order.

    `base` names the capture: the order's `payment` (default) or a `("duplicate_captures", key)` entry."""
    if type(amount_fen) is not int or amount_fen <= 0:
        raise ValueError("amount_fen must be a positive int (fen)")
    order_id = order.order_id
    for _ in range(ATTEMPTS):
        current = orders.require(order_id, consistent=True)
        payment = payments_store.capture_at(current, base)
        if not payment:
            raise Conflict(
                "The order has no captured payment to refund.",
                code="not_paid",
                current_status=current.status.value,
            )
        record = (payment.get("refunds") or {}).get(refund_key)
        if record is None:
            left = int(payment["amount_fen"]) - committed_fen(payment)
            if amount_fen > left:
                raise Conflict(
                    f"A refund of {amount_fen} fen would exceed the {payment['amount_fen']} fen captured "
                    f"({committed_fen(payment)} fen already refunded or pending).",
                    code="refund_exceeds_capture",
                    refundable_fen=left,
                )
            requested = grant(order_id, refund_key, amount_fen, reason)
            reserved = payments_store.reserve_refund(
                current, refund_key, requested, actor=actor, reason=reason, base=base
            )
            if reserved is None:
                continue  # the order moved (another refund, a transition): re-read and re-check the cap
            current = reserved
            payment = payments_store.capture_at(current, base) or payment
            record = payment.get("refunds", {})[refund_key]
        if record["state"] != "requested" or record.get("provider_refund_id"):
            # settled, or accepted and pending: never send it again (an Alipay one is asked about once more)
            if record["state"] == "requested" and providers.confirmable(payment):
                return _confirmed(order_id, refund_key, actor=actor, base=base) or current
            return current
        result = providers.send_refund(
            payment,
            out_refund=record["out_refund_no"],
            amount_fen=int(record["amount_fen"]),
            reason=record["reason"],
        )
        if result.state == "requested":
            # accepted, not settled. WeChat Pay: its REFUND.* notification settles it (the exit's timer goes).
            # Alipay: asked at once with the refund query; the REFUND timer asks again while it is pending.
            confirm_later = providers.confirmable(payment)
            payments_store.mark_refund_accepted(order_id, refund_key, result.provider_refund_id, base=base,
                                                clear_timer=_exit_grant_key(current, refund_key) and not confirm_later)
            if confirm_later:
                return _confirmed(order_id, refund_key, actor=actor, base=base) or orders.require(
                    order_id, consistent=True)
            return orders.require(order_id, consistent=True)
        return settle(
            order_id,
            refund_key,
            succeeded=result.state == "succeeded",
            actor=actor,
            detail=result.detail,
            provider_refund_id=result.provider_refund_id,
            base=base,
        )
    raise Conflict(
        "The order kept changing; retry the refund.",
        code="order_changed",
        current_status=orders.require(order_id).status.value,
    )


def settle(
    order_id: str,
    refund_key: str,
    *,
    succeeded: bool,
    actor: str,
    detail: str | None = None,
    provider_refund_id: str = "",
    base: tuple[str, ...] = payments_store.CAPTURE,
) -> Order:
    """requested -> succeeded|failed, once (replays and refund notifications land here too)."""
    for _ in range(ATTEMPTS):
        current = orders.require(order_id, consistent=True)
        record = (payments_store.capture_at(current, base) or {}).get("refunds", {})[refund_key]
        if record["state"] != "requested":
            return current
        if provider_refund_id and not record.get("provider_refund_id"):
            payments_store.mark_refund_accepted(order_id, refund_key, provider_refund_id, base=base)
            current = orders.require(order_id, consistent=True)
        settled = payments_store.settle_refund(
            current, refund_key, succeeded=succeeded, actor=actor, detail=detail, base=base,
            clear_timer=_exit_grant_key(current, refund_key) and current.has("GSI3PK"),
        )
        if settled is not None:
            from shared.aftersales import refunding

            refunding.on_settled(order_id, refund_key, succeeded=succeeded)  # a case's grant moves its case
            if not succeeded:
                from shared.ops import inbox

                inbox.record(
                    "refund_issue",
                    f"{order_id}:{refund_key}",
                    {"order_id": order_id, "refund_key": refund_key, "detail": detail},
                    summary=f"refund {refund_key} of order {order_id} failed: {detail}"[:200],
                )
            return settled
    raise Conflict(
        "The order kept changing; retry.",
        code="order_changed",
        current_status=orders.require(order_id).status.value,
    )


def confirm(order_id: str, refund_key: str, *, actor: str = "system:refunds",
            base: tuple[str, ...] = payments_store.CAPTURE) -> str:
    """Ask the provider what became of an accepted refund (Alipay: `alipay.trade.fastpay.refund.query`, since
    `code=10000` from `alipay.trade.refund` only means "accepted") and settle the grant once if it is done.
    Answers the grant's state afterwards: `requested` (still pending, not sent yet, or a provider that answers by
    notification), `succeeded`, `failed`, or `missing`. Idempotent; raises Unavailable if the provider cannot be
    asked. The order's REFUND timer (`resume_exit_refund`) and the case's (`refunding.resume`) call it."""
    current = orders.require(order_id, consistent=True)
    payment = payments_store.capture_at(current, base) or {}
    record = (payment.get("refunds") or {}).get(refund_key)
    if record is None:
        return "missing"
    if record["state"] != "requested" or not record.get("provider_refund_id"):
        return record["state"]
    result = providers.query_refund(payment, out_refund=record["out_refund_no"], amount_fen=int(record["amount_fen"]))
    if result.state == "requested":
        return "requested"
    settled = settle(order_id, refund_key, succeeded=result.state == "succeeded", actor=actor, detail=result.detail,
                     base=base)
    return str(((payments_store.capture_at(settled, base) or {}).get("refunds") or {})[refund_key]["state"])


def _confirmed(order_id: str, refund_key: str, *, actor: str, base: tuple[str, ...]) -> Order | None:
    """`confirm` right after the provider accepted: the order as it is then, or None if the query could not be
    made (the refund stays accepted and pending; its timer asks again)."""
    try:
        confirm(order_id, refund_key, actor=actor, base=base)
    except Unavailable:
        logger.info("refund query deferred", extra={"order_id": order_id, "refund_key": refund_key})
        return None
    return orders.require(order_id, consistent=True)


def _exit_grant(current: Order, refund_key: str, *, reason: str,
                actor: str) -> tuple[dict[str, Any] | None, tuple[events.OrderEvent, ...]]:
    """What the exit's move writes besides the status: the grant of what remains of the capture (the whole
    capture unless part was refunded already), so the move and the refund decision are one conditional write
    and no exited order is ever left without its refund recorded."""
    payment = current.payment
    if not payment or refund_key in (payment.get("refunds") or {}):
        return None, ()
    remaining = payment["amount_fen"] - committed_fen(payment)
    if remaining <= 0:
        return None, ()
    record = grant(current.order_id, refund_key, remaining, reason)
    granted: Capture = {**payment, "refunds": {**(payment.get("refunds") or {}), refund_key: record}}
    event = events.refund_requested(actor=actor, refund_key=refund_key, amount_fen=remaining, reason=reason)
    # the REFUND timer: should this process die (or the provider not answer) before the refund is settled or
    # accepted, the sweeper sends the same grant again (`resume_exit_refund`); settling it removes the timer
    timer = logic.due_key(TIMER, current.order_id, iso(now() + RESUME_AFTER))
    return {"payment": granted, **timer}, (event,)


def _exit_and_refund(order: Order, to: OrderStatus, *, reason: str, actor: str) -> Order:
    """Move the order out (stock given back, timers and review queue entry dropped) and grant the refund of
    what remains in the same conditional write, unless it is already there; revoke what is left of any
    entitlement it granted (once per refund key), then execute the refund (idempotent on its key). A lost
    race raises Conflict with the status the order has now."""
    from shared.entitlements import service as entitlements
    from shared.orders import checkout

    refund_key = EXIT_REFUND_KEYS[to]
    current = orders.require(order.order_id, consistent=True)
    if current.status is not to:
        set_fields, also = _exit_grant(current, refund_key, reason=reason, actor=actor)
        current = checkout.release(current, to, actor=actor, reason=reason, set_fields=set_fields, also=also)
    payment = current.payment
    if payment:
        entitlements.revoke_order(current, refund_key)  # before the money: never refunded and still held
        existing = (payment.get("refunds") or {}).get(refund_key)
        remaining = payment["amount_fen"] - committed_fen(payment)
        if existing is not None or remaining > 0:
            current = refund(
                current,
                existing["amount_fen"] if existing else remaining,
                refund_key=refund_key,
                reason=reason,
                actor=actor,
            )
    return current


def reject_and_refund(order: Order, *, reason: str, actor: str) -> Order:
    return _exit_and_refund(order, OrderStatus.REJECTED, reason=reason, actor=actor)


def fail_and_refund(order: Order, *, reason: str, actor: str) -> Order:
    return _exit_and_refund(order, OrderStatus.FAILED, reason=reason, actor=actor)


def cancel_and_refund(order: Order, *, reason: str, actor: str) -> Order:
    return _exit_and_refund(order, OrderStatus.CANCELLED, reason=reason, actor=actor)


def resume_exit_refund(order: Order, moment: datetime) -> str:
    """The sweeper's `REFUND` timer: an exited order whose refund grant is not settled. Not sent (the process
    died after the write, or the provider did not answer): sends the same grant again (same out_refund_no: the
    provider deduplicates). Accepted by Alipay and pending: asks the refund query (`confirm`). While it is still
    unsettled the timer moves on, and a grant unsettled for `STUCK_AFTER` is filed in the ops inbox once. A
    settled grant, or one a WeChat Pay notification will settle, just drops the timer."""
    refund_key = EXIT_REFUND_KEYS.get(order.status)
    payment = order.payment or {}
    record = (payment.get("refunds") or {}).get(refund_key or "")
    if refund_key is None or record is None or record.get("state") != "requested":
        return "cleared" if orders.clear_timer(order) else "raced"
    outcome = "pending"
    if record.get("provider_refund_id"):
        if not providers.confirmable(payment):
            return "cleared" if orders.clear_timer(order) else "raced"  # its notification settles it
        try:
            if confirm(order.order_id, refund_key, actor="system:sweeper") != "requested":
                return "settled"  # settling removed the timer
        except Unavailable:
            outcome = "retry"
    else:
        try:
            after = _exit_and_refund(order, order.status, reason=record.get("reason", ""), actor="system:sweeper")
        except Unavailable:
            outcome = "retry"
        else:
            sent = ((after.payment or {}).get("refunds") or {}).get(refund_key) or {}
            if sent.get("state") != "requested" or not providers.confirmable(payment):
                return "refunded"
    if parse_iso(record.get("at", "")) + STUCK_AFTER <= moment:
        from shared.ops import inbox

        detail = "provider unavailable" if outcome == "retry" else "accepted, not confirmed"
        inbox.record("refund_issue", f"{order.order_id}:{refund_key}",
                     {"order_id": order.order_id, "refund_key": refund_key, "detail": detail},
                     summary=f"refund {refund_key} of order {order.order_id} not settled for over an hour ({detail})")
    current = orders.require(order.order_id, consistent=True)
    orders.move_timer(current, logic.due_key(TIMER, order.order_id, iso(moment + RESUME_AFTER)))
    return outcome
