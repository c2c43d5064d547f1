"""Payment facts on the order item. Each function is ONE conditional UpdateItem that also appends the
timeline event, so a replayed callback or a lost race changes nothing (it sees `False` or a Conflict).

Status changes still go through `shared.orders.store.transition`; this module writes only the `payment`,
`payment_intent`, `payment_attempts` (superseded intents), `duplicate_captures`, `last_payment_error` and
`payment_event_keys` facts. Every write that decides something checks the order's version (and status where
it matters), so two racing writers never both win.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from shared.core import aws, ddb
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
        self,
        order_id: str,
        condition: str,
        *,
        event: dict[str, Any] | list[dict[str, Any]] | None,
        extra: str = "",
    ) -> dict[str, Any]:
        self.set(("updated_at",), now_iso())
        expression = "SET " + ", ".join(self.sets) + f", #version = #version + {self.value(1)}"
        if event is not None:
            events = event if isinstance(event, list) else [event]
            expression += f", events = list_append(events, {self.value(events)})"
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
    except aws.ClientError as error:
        if ddb.is_conditional_failure(error):
            return None
        raise


def _version_and_status(update: _Update, order: dict[str, Any], status: str) -> str:
    return (
        f"#version = {update.value(order['version'])} "
        f"AND {update.path(('status',))} = {update.value(status)}"
    )


def put_intent(
    order: dict[str, Any], intent: dict[str, Any], *, actor: str, superseded: dict[str, Any] | None = None
) -> dict[str, Any] | None:
    """Make `intent` the order's current payment intent, on the version read and only while it awaits payment
    with nothing captured. `superseded` (the previous intent's record) is appended to `payment_attempts` in
    the same write. None if the order moved meanwhile (a racing pay request, a capture, expiry)."""
    update = _Update()
    update.set(("payment_intent",), intent)
    events = []
    if superseded is not None:
        attempts = [*(order.get("payment_attempts") or []), superseded]
        update.set(("payment_attempts",), attempts)
        events.append(
            _event(
                "payment_intent_superseded",
                actor,
                f"{superseded['provider']} {superseded['out_trade_no']} ({superseded['outcome']}) "
                f"-> {intent['provider']} {intent['out_trade_no']}",
            )
        )
    events.append(_event("payment_intent_created", actor, f"{intent['provider']} {intent['out_trade_no']}"))
    condition = (
        _version_and_status(update, order, OrderStatus.AWAITING_PAYMENT.value)
        + " AND attribute_not_exists(payment)"
    )
    extra = " REMOVE last_payment_error" if superseded is not None else ""
    return _conditional(lambda: update.run(order["order_id"], condition, event=events, extra=extra))


def record_close(
    order: dict[str, Any], index: int | None, result: str, *, actor: str
) -> dict[str, Any] | None:
    """Note what the provider said when we closed a trade: superseded `payment_attempts[index]`, or (None)
    the current intent after an older one paid. Version-checked; None if the order moved (re-read, retry)."""
    update = _Update()
    if index is None:
        update.set(("payment_intent", "closed"), result)
        closed = order["payment_intent"]
    else:
        update.sets.append(f"{update.path(('payment_attempts',))}[{int(index)}].closed = {update.value(result)}")
        closed = order["payment_attempts"][index]
    condition = f"#version = {update.value(order['version'])}"
    event = _event("payment_intent_closed", actor, f"{closed['provider']} {closed['out_trade_no']}: {result}")
    return _conditional(lambda: update.run(order["order_id"], condition, event=event))


def mark_intent_failed(
    order: dict[str, Any], event_key: str, message: str, *, actor: str
) -> dict[str, Any] | None:
    """The current intent failed (declined, PAYERROR, closed by the provider): state `failed` plus the
    shopper's message, once per provider event, on the version read while the order awaits payment."""
    update = _Update()
    if "payment_intent" in order:
        update.set(("payment_intent", "state"), "failed")
    update.set(("last_payment_error",), message)
    key_set = update.value({event_key})
    condition = (
        _version_and_status(update, order, OrderStatus.AWAITING_PAYMENT.value)
        + f" AND NOT contains(payment_event_keys, {update.value(event_key)})"
    )
    event = _event("payment_failed", actor, message)
    return _conditional(
        lambda: update.run(order["order_id"], condition, event=event, extra=f" ADD payment_event_keys {key_set}")
    )


def record_duplicate_capture(
    order: dict[str, Any], key: str, capture: dict[str, Any], *, actor: str, reason: str
) -> dict[str, Any] | None:
    """A second capture (another intent of the same order) after the order was paid: keep it in
    `duplicate_captures[key]` on the version read, once. None if the order moved or it is already there."""
    if key in (order.get("duplicate_captures") or {}):
        return None
    update = _Update()
    update.set(("duplicate_captures",), {**(order.get("duplicate_captures") or {}), key: capture})
    condition = f"#version = {update.value(order['version'])}"
    return _conditional(
        lambda: update.run(order["order_id"], condition, event=_event("duplicate_capture", actor, reason))
    )


def record_late_payment(
    order: dict[str, Any], payment: dict[str, Any], *, actor: str, reason: str
) -> dict[str, Any] | None:
    """A capture for an order that can no longer be paid: keep the money's trace on the order, once (on the
    version and status read; None if it moved)."""
    update = _Update()
    update.set(("payment",), payment)
    condition = _version_and_status(update, order, order["status"]) + " AND attribute_not_exists(payment)"
    return _conditional(
        lambda: update.run(order["order_id"], condition, event=_event("paid_after_cancel", actor, reason))
    )


CAPTURE: tuple[str, ...] = ("payment",)  # where a capture lives; a duplicate is ("duplicate_captures", key)


def capture_at(order: dict[str, Any], base: tuple[str, ...]) -> dict[str, Any] | None:
    node: Any = order
    for segment in base:
        node = node.get(segment) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else None


def reserve_refund(
    order: dict[str, Any],
    refund_key: str,
    record: dict[str, Any],
    *,
    actor: str,
    reason: str,
    base: tuple[str, ...] = CAPTURE,
) -> dict[str, Any] | None:
    """Write `<capture>.refunds[refund_key]` (state requested) BEFORE the provider is called. The version check
    makes "never more than captured" hold under concurrent refunds: the caller re-reads and re-checks."""
    update = _Update()
    update.set((*base, "refunds", refund_key), record)
    condition = (
        f"#version = {update.value(order['version'])} AND attribute_exists({update.path(base)}) "
        f"AND attribute_not_exists({update.path((*base, 'refunds', refund_key))})"
    )
    event = _event("refund_requested", actor, f"{refund_key}: {record['amount_fen']} fen ({reason})")
    return _conditional(lambda: update.run(order["order_id"], condition, event=event))


def mark_refund_accepted(
    order_id: str, refund_key: str, provider_refund_id: str, *, base: tuple[str, ...] = CAPTURE
) -> dict[str, Any] | None:
    """The provider took the request (the result may still be pending): never send it again."""
    update = _Update()
    update.set((*base, "refunds", refund_key, "provider_refund_id"), provider_refund_id)
    state = update.path((*base, "refunds", refund_key, "state"))
    condition = f"{state} = {update.value('requested')}"
    return _conditional(lambda: update.run(order_id, condition, event=None))


def settle_refund(
    order: dict[str, Any],
    refund_key: str,
    *,
    succeeded: bool,
    actor: str,
    detail: str | None = None,
    base: tuple[str, ...] = CAPTURE,
) -> dict[str, Any] | None:
    """requested -> succeeded|failed once; on success add to the capture's `refunded_fen` and update its
    state."""
    payment = capture_at(order, base) or {}
    record = payment["refunds"][refund_key]
    update = _Update()
    update.set((*base, "refunds", refund_key, "state"), "succeeded" if succeeded else "failed")
    update.set((*base, "refunds", refund_key, "settled_at"), now_iso())
    if detail:
        update.set((*base, "refunds", refund_key, "detail"), detail[:200])
    before = int(payment.get("refunded_fen", 0))
    if succeeded:
        after = before + int(record["amount_fen"])
        update.set((*base, "refunded_fen"), after)
        update.set(
            (*base, "state"), "refunded" if after >= int(payment["amount_fen"]) else "partially_refunded"
        )
    state = update.path((*base, "refunds", refund_key, "state"))
    refunded = update.path((*base, "refunded_fen"))
    condition = f"{state} = {update.value('requested')} AND {refunded} = {update.value(before)}"
    event = _event(
        "refunded" if succeeded else "refund_failed",
        actor,
        f"{refund_key}: {record['amount_fen']} fen" + (f" ({detail})" if detail else ""),
    )
    return _conditional(lambda: update.run(order["order_id"], condition, event=event))
