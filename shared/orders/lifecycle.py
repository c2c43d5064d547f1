"""Shopper cancellation and the timers the sweeper runs (expiry of unpaid orders, re-drive of stuck ones)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from shared.core.clock import iso, now, parse_iso
from shared.core.config import int_env
from shared.core.errors import Conflict
from shared.orders import checkout, completion, intake, logic, store
from shared.orders.models import OrderStatus

logger = logging.getLogger("order24.lifecycle")
MAX_REDRIVES = 3


def cancel_by_shopper(order: dict[str, Any], shopper_id: str) -> dict[str, Any]:
    actor = f"shopper:{shopper_id}"
    status = order["status"]
    if status == OrderStatus.PLACED.value:
        return store.transition(order, OrderStatus.CANCELLED, actor=actor, reason="cancelled_by_shopper",
                                remove_fields=("GSI3PK", "GSI3SK"))
    if status == OrderStatus.AWAITING_PAYMENT.value:
        return checkout.release(order, OrderStatus.CANCELLED, actor=actor, reason="cancelled_by_shopper")
    raise Conflict(f"An order in {status} can no longer be cancelled here.", code="not_cancellable",
                   current_status=status)


def expire_unpaid(order: dict[str, Any], moment: datetime) -> str:
    if order["status"] != OrderStatus.AWAITING_PAYMENT.value or parse_iso(order["expires_at"]) > moment:
        return "skipped"
    try:
        checkout.release(order, OrderStatus.CANCELLED, actor="system:sweeper", reason="payment_timeout")
    except Conflict:
        return "raced"  # paid or cancelled in the meantime: the other writer won, correctly
    return "expired"


def redrive_placed(order: dict[str, Any], moment: datetime) -> str:
    if order["status"] != OrderStatus.PLACED.value:
        return "skipped"
    count = int(order.get("redrives", 0))
    if count >= MAX_REDRIVES:
        try:
            store.transition(order, OrderStatus.FAILED, actor="system:sweeper", reason="checkout_timeout",
                             remove_fields=("GSI3PK", "GSI3SK"))
        except Conflict:
            return "raced"
        return "failed"
    due = logic.due_key("PLACED", order["order_id"], iso(moment + intake.redrive_after() * (count + 2)))
    store.append_event(order["order_id"], type_="redriven", actor="system:sweeper", reason="checkout_not_started",
                       set_fields={"redrives": count + 1, **due}, expected_status=OrderStatus.PLACED.value)
    intake.enqueue(order["order_id"])
    return "redriven"


DEFAULT_FULFIL_REDRIVE_AFTER_S = 300


def fulfil_redrive_after() -> timedelta:
    """Env FULFIL_REDRIVE_AFTER_SECONDS lets the local fault tests shorten it; 5 minutes otherwise."""
    return timedelta(seconds=int_env("FULFIL_REDRIVE_AFTER_SECONDS", DEFAULT_FULFIL_REDRIVE_AFTER_S))


def redrive_paid(order: dict[str, Any], moment: datetime) -> str:
    """A paid order whose fulfilment has not moved on: start it again; when re-drives run out, fail and
    refund it, so money is never held for an order nobody will fulfil."""
    if order["status"] not in (OrderStatus.PAID.value, OrderStatus.FULFILLING.value):
        return "skipped"
    count = int(order.get("redrives", 0))
    if count >= MAX_REDRIVES:
        from shared.payments import refunds  # only this rare path needs the payment adapters

        try:
            refunds.fail_and_refund(order, reason="fulfilment_stuck", actor="system:sweeper")
        except Conflict:
            return "raced"
        return "failed"
    due = logic.due_key("PAID", order["order_id"], iso(moment + fulfil_redrive_after() * (count + 1)))
    store.append_event(order["order_id"], type_="redriven", actor="system:sweeper", reason="fulfilment_not_finished",
                       set_fields={"redrives": count + 1, **due}, expected_status=order["status"])
    from shared.core import queues

    queues.send("PAID_QUEUE_URL", {"order_id": order["order_id"]})
    return "redriven"


# Timer kind (the DUE#<KIND># partition of the by_due index) -> what to do with a due order.
# PAID orders carry a `PAID` timer until fulfilment finishes (set at PAID, kept through FULFILLING).
TIMERS: dict[str, Callable[[dict[str, Any], datetime], str]] = {
    "EXPIRY": expire_unpaid,
    "PLACED": redrive_placed,
    "PAID": redrive_paid,
    "COMPLETE": completion.complete_delivered,  # DELIVERED -> COMPLETED after the return window
}


def sweep(moment: datetime | None = None, *, kinds: tuple[str, ...] | None = None) -> dict[str, int]:
    """Run every due timer once. Reads the sharded index, never scans the table."""
    moment = moment or now()
    outcomes: dict[str, int] = {}
    for kind in kinds or tuple(TIMERS):
        action = TIMERS[kind]
        for shard in range(logic.DUE_SHARDS):
            for order_id in store.query_due(kind, shard, iso(moment + timedelta(milliseconds=1))):
                order = store.get(order_id, consistent=True)
                if order is None:
                    continue
                try:
                    outcome = action(order, moment)
                except Exception:
                    logger.exception("timer failed", extra={"order_id": order_id, "kind": kind})
                    outcome = "error"
                key = f"{kind.lower()}_{outcome}"
                outcomes[key] = outcomes.get(key, 0) + 1
    return outcomes
