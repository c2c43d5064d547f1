"""Payment facts on the order item. Each function is ONE conditional UpdateItem that also appends the
timeline event, so a replayed callback or a lost race changes nothing (it sees `False` or a Conflict).

Status changes still go through `shared.orders.store.transition`; this module writes only the `payment`,
`payment_intent`, `last_payment_error` and `payment_event_keys` facts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from shared.core import ddb
from shared.core.clock import now_iso
from shared.orders import logic
from shared.orders.models import OrderStatus
from shared.orders.store import order_key


def _event(type_: str, actor: str, reason: str | None) -> dict[str, Any]:
    the_event = logic.event(at=now_iso(), type_=type_, actor=actor, reason=reason)
    return {k: v for k, v in the_event.items() if v is not None}


class _Update:
    """Builds `SET a.b = :v, ...` with a placeholder for every path segment (names may be reserved words)."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {"#version": "version"}
        self.values: dict[str, Any] = {}
        self.sets: list[str] = []

    def path(self, dotted: Sequence[str]) -> str:
        parts = []
        for segment in dotted:
            name = next((k for k, v in self.names.items() if v == segment), None)
            if name is None:
                name = f"#n{len(self.names)}"
                self.names[name] = segment
            parts.append(name)
        return ".".join(parts)

    def value(self, value: Any) -> str:
        name = f":v{len(self.values)}"
        self.values[name] = ddb.to_attr(value)
        return name

    def set(self, dotted: Sequence[str], value: Any) -> None:
        self.sets.append(f"{self.path(dotted)} = {self.value(value)}")

    def run(
        self, order_id: str, condition: str, *, event: dict[str, Any] | None, extra: str = ""
    ) -> dict[str, Any]:
        self.set(("updated_at",), now_iso())
        expression = "SET " + ", ".join(self.sets) + f", #version = #version + {self.value(1)}"
        if event is not None:
            expression += f", events = list_append(events, {self.value([event])})"
        reply = ddb.dynamodb().update_item(
            TableName=ddb.table(),
            Key=order_key(order_id),
            UpdateExpression=expression + extra,
            ConditionExpression=condition,
            ExpressionAttributeNames=self.names,
            ExpressionAttributeValues=self.values,
            ReturnValues="ALL_NEW",
        )
        return ddb.from_item(reply["Attributes"])


def _conditional(call: Any) -> dict[str, Any] | None:
    """Run `call()`; None when its condition failed (the fact is already there, or the order moved)."""
    try:
        result: dict[str, Any] = call()
        return result
    except Exception as error:
        if ddb.is_conditional_failure(error):
            return None
        raise


def put_intent(order_id: str, intent: dict[str, Any], *, actor: str) -> dict[str, Any] | None:
    """Write the payment intent once, only while the order awaits payment. None if one exists or it moved."""
    update = _Update()
    update.set(("payment_intent",), intent)
    status = update.path(("status",))
    awaiting = update.value(OrderStatus.AWAITING_PAYMENT.value)
    condition = f"{status} = {awaiting} AND attribute_not_exists(payment_intent)"
    event = _event("payment_intent_created", actor, intent["provider"])
    return _conditional(lambda: update.run(order_id, condition, event=event))


def record_late_payment(
    order_id: str, payment: dict[str, Any], *, actor: str, reason: str
) -> dict[str, Any] | None:
    """A capture for an order that can no longer be paid: keep the money's trace on the order, once."""
    update = _Update()
    update.set(("payment",), payment)
    condition = (
        f"attribute_exists(PK) AND attribute_not_exists(payment) "
        f"AND {update.path(('status',))} <> {update.value(OrderStatus.AWAITING_PAYMENT.value)}"
    )
    return _conditional(
        lambda: update.run(order_id, condition, event=_event("paid_after_cancel", actor, reason))
    )


def record_event_once(
    order_id: str,
    event_key: str,
    *,
    type_: str,
    actor: str,
    reason: str | None,
    set_fields: dict[str, Any] | None = None,
    expected_status: str | None = None,
) -> dict[str, Any] | None:
    """A provider event we act on without a status change (a failed attempt, a refund result), applied once
    per provider event key. None when already applied (or the order is not in `expected_status`)."""
    update = _Update()
    for name, value in (set_fields or {}).items():
        update.set(tuple(name.split(".")), value)
    key_value = update.value(event_key)
    condition = f"attribute_exists(PK) AND NOT contains(payment_event_keys, {key_value})"
    if expected_status is not None:
        condition += f" AND {update.path(('status',))} = {update.value(expected_status)}"
    key_set = update.value({event_key})
    return _conditional(
        lambda: update.run(
            order_id,
            condition,
            event=_event(type_, actor, reason),
            extra=f" ADD payment_event_keys {key_set}",
        )
    )


def reserve_refund(
    order: dict[str, Any], refund_key: str, record: dict[str, Any], *, actor: str, reason: str
) -> dict[str, Any] | None:
    """Write `payment.refunds[refund_key]` (state requested) BEFORE the provider is called. The version check
    makes "never more than captured" hold under concurrent refunds: the caller re-reads and re-checks."""
    update = _Update()
    update.set(("payment", "refunds", refund_key), record)
    condition = (
        f"#version = {update.value(order['version'])} AND attribute_exists(payment) "
        f"AND attribute_not_exists({update.path(('payment', 'refunds', refund_key))})"
    )
    event = _event("refund_requested", actor, f"{refund_key}: {record['amount_fen']} fen ({reason})")
    return _conditional(lambda: update.run(order["order_id"], condition, event=event))


def mark_refund_accepted(order_id: str, refund_key: str, provider_refund_id: str) -> dict[str, Any] | None:
    """The provider took the request (the result may still be pending): never send it again."""
    update = _Update()
    update.set(("payment", "refunds", refund_key, "provider_refund_id"), provider_refund_id)
    state = update.path(("payment", "refunds", refund_key, "state"))
    condition = f"{state} = {update.value('requested')}"
    return _conditional(lambda: update.run(order_id, condition, event=None))


def settle_refund(
    order: dict[str, Any], refund_key: str, *, succeeded: bool, actor: str, detail: str | None = None
) -> dict[str, Any] | None:
    """requested -> succeeded|failed once; on success add to `payment.refunded_fen` and update its state."""
    payment = order["payment"]
    record = payment["refunds"][refund_key]
    update = _Update()
    update.set(("payment", "refunds", refund_key, "state"), "succeeded" if succeeded else "failed")
    update.set(("payment", "refunds", refund_key, "settled_at"), now_iso())
    if detail:
        update.set(("payment", "refunds", refund_key, "detail"), detail[:200])
    before = int(payment.get("refunded_fen", 0))
    if succeeded:
        after = before + int(record["amount_fen"])
        update.set(("payment", "refunded_fen"), after)
        update.set(
            ("payment", "state"), "refunded" if after >= int(payment["amount_fen"]) else "partially_refunded"
        )
    state = update.path(("payment", "refunds", refund_key, "state"))
    refunded = update.path(("payment", "refunded_fen"))
    condition = f"{state} = {update.value('requested')} AND {refunded} = {update.value(before)}"
    event = _event(
        "refunded" if succeeded else "refund_failed",
        actor,
        f"{refund_key}: {record['amount_fen']} fen" + (f" ({detail})" if detail else ""),
    )
    return _conditional(lambda: update.run(order["order_id"], condition, event=event))
