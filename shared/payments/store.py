"""Payment facts on the order item. Each function is ONE conditional UpdateItem that also appends the
timeline event, so a replayed callback or a lost race changes nothing (it sees `False` or a Conflict).

Status changes still go through `shared.orders.store.transition`; this module writes only the `payment`,
`payment_intent`, `payment_attempts` (superseded intents), `duplicate_captures`, `last_payment_error` and
`payment_event_keys` facts. Every write that decides something checks the order's version (and status where
it matters), so two racing writers never both win.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from shared.core import aws, ddb
from shared.core.clock import now_iso
from shared.orders import events
from shared.orders.aggregate import Capture, Order, PaymentIntent, RefundRecord
from shared.orders.models import OrderStatus
from shared.orders.store import order_key


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

    def request(
        self,
        order_id: str,
        condition: str,
        *,
        event: events.OrderEvent | list[events.OrderEvent] | None,
        extra: str = "",
    ) -> dict[str, Any]:
        """The Update request, alone (`run`) or inside TransactWriteItems."""
        self.set(("updated_at",), now_iso())
        expression = "SET " + ", ".join(self.sets) + f", #version = #version + {self.value(1)}"
        if event is not None:
            appended = event if isinstance(event, list) else [event]
            expression += f", events = list_append(events, {self.value(events.to_items(appended))})"
        return {
            "TableName": ddb.table(), "Key": order_key(order_id), "UpdateExpression": expression + extra,
            "ConditionExpression": condition, "ExpressionAttributeNames": self.names,
            "ExpressionAttributeValues": self.values,
        }

    def run(
        self,
        order_id: str,
        condition: str,
        *,
        event: events.OrderEvent | list[events.OrderEvent] | None,
        extra: str = "",
    ) -> Order:
        reply = ddb.dynamodb().update_item(**self.request(order_id, condition, event=event, extra=extra),
                                           ReturnValues="ALL_NEW")
        return Order.from_ddb(reply["Attributes"])


def _conditional(call: Callable[[], Order]) -> Order | None:
    """Run `call()`; None when its condition failed (the fact is already there, or the order moved)."""
    try:
        return call()
    except aws.ClientError as error:
        if ddb.is_conditional_failure(error):
            return None
        raise


def _version_and_status(update: _Update, order: Order, status: str) -> str:
    return (
        f"#version = {update.value(order.version)} "
        f"AND {update.path(('status',))} = {update.value(status)}"
    )


def put_intent(
    order: Order, intent: PaymentIntent, *, actor: str, superseded: PaymentIntent | None = None
) -> Order | None:
    """Make `intent` the order's current payment intent, on the version read and only while it awaits payment
    with nothing captured. `superseded` (the previous intent's record) is appended to `payment_attempts` in
    the same write. None if the order moved meanwhile (a racing pay request, a capture, expiry)."""
    update = _Update()
    update.set(("payment_intent",), intent)
    appended: list[events.OrderEvent] = []
    if superseded is not None:
        attempts = [*(order.payment_attempts or []), superseded]
        update.set(("payment_attempts",), attempts)
        appended.append(events.payment_intent_superseded(actor=actor, superseded=superseded, intent=intent))
    appended.append(events.payment_intent_created(actor=actor, provider=intent["provider"],
                                                  out_trade_no=intent["out_trade_no"]))
    condition = (
        _version_and_status(update, order, OrderStatus.AWAITING_PAYMENT.value)
        + " AND attribute_not_exists(payment)"
    )
    extra = " REMOVE last_payment_error" if superseded is not None else ""
    return _conditional(lambda: update.run(order.order_id, condition, event=appended, extra=extra))


def record_close(
    order: Order, index: int | None, result: str, *, actor: str
) -> Order | None:
    """Note what the provider said when we closed a trade: superseded `payment_attempts[index]`, or (None)
    the current intent after an older one paid. Version-checked; None if the order moved (re-read, retry)."""
    update = _Update()
    if index is None:
        update.set(("payment_intent", "closed"), result)
        closed = order.payment_intent or {}
    else:
        update.sets.append(f"{update.path(('payment_attempts',))}[{int(index)}].closed = {update.value(result)}")
        closed = (order.payment_attempts or [])[index]
    condition = f"#version = {update.value(order.version)}"
    event = events.payment_intent_closed(actor=actor, provider=closed["provider"],
                                         out_trade_no=closed["out_trade_no"], result=result)
    return _conditional(lambda: update.run(order.order_id, condition, event=event))


def mark_intent_failed(
    order: Order, event_key: str, message: str, *, actor: str
) -> Order | None:
    """The current intent failed (declined, PAYERROR, closed by the provider): state `failed` plus the
    shopper's message, once per provider event, on the version read while the order awaits payment."""
    update = _Update()
    if order.payment_intent is not None:
        update.set(("payment_intent", "state"), "failed")
    update.set(("last_payment_error",), message)
    key_set = update.value({event_key})
    condition = (
        _version_and_status(update, order, OrderStatus.AWAITING_PAYMENT.value)
        + f" AND NOT contains(payment_event_keys, {update.value(event_key)})"
    )
    event = events.payment_failed(actor=actor, message=message)
    return _conditional(
        lambda: update.run(order.order_id, condition, event=event, extra=f" ADD payment_event_keys {key_set}")
    )


def record_duplicate_capture(
    order: Order, key: str, capture: Capture, *, actor: str, reason: str
) -> Order | None:
    """A second capture (another intent of the same order) after the order was paid: keep it in
    `duplicate_captures[key]` on the version read, once. None if the order moved or it is already there."""
    if key in (order.duplicate_captures or {}):
        return None
    update = _Update()
    update.set(("duplicate_captures",), {**(order.duplicate_captures or {}), key: capture})
    condition = f"#version = {update.value(order.version)}"
    return _conditional(
        lambda: update.run(order.order_id, condition, event=events.duplicate_capture(actor=actor, reason=reason))
    )


def record_late_payment(
    order: Order, payment: Capture, *, actor: str, reason: str
) -> Order | None:
    """A capture for an order that can no longer be paid: keep the money's trace on the order, once (on the
    version and status read; None if it moved)."""
    update = _Update()
    update.set(("payment",), payment)
    condition = _version_and_status(update, order, order.status) + " AND attribute_not_exists(payment)"
    return _conditional(
        lambda: update.run(order.order_id, condition, event=events.paid_after_cancel(actor=actor, reason=reason))
    )


CAPTURE: tuple[str, ...] = ("payment",)  # where a capture lives; a duplicate is ("duplicate_captures", key)


def capture_at(order: Order, base: tuple[str, ...]) -> Capture | None:
    """The capture at `base`: the order's `payment`, or `("duplicate_captures", key)`."""
    if base == CAPTURE:
        return order.payment
    if len(base) == 2 and base[0] == "duplicate_captures":
        return (order.duplicate_captures or {}).get(base[1])
    return None


def reserve_refund(
    order: Order,
    refund_key: str,
    record: RefundRecord,
    *,
    actor: str,
    reason: str,
    base: tuple[str, ...] = CAPTURE,
) -> Order | None:
    """Write `<capture>.refunds[refund_key]` (state requested) BEFORE the provider is called. The version check
    makes "never more than captured" hold under concurrent refunds: the caller re-reads and re-checks."""
    update, condition, event = _grant(order, refund_key, record, actor=actor, reason=reason, base=base)
    return _conditional(lambda: update.run(order.order_id, condition, event=event))


def grant_update(order: Order, refund_key: str, record: RefundRecord, *, actor: str, reason: str,
                 base: tuple[str, ...] = CAPTURE) -> dict[str, Any]:
    """`reserve_refund` as an Update request for a transaction (beside the case move that decided it)."""
    update, condition, event = _grant(order, refund_key, record, actor=actor, reason=reason, base=base)
    return update.request(order.order_id, condition, event=event)


def _grant(order: Order, refund_key: str, record: RefundRecord, *, actor: str, reason: str,
           base: tuple[str, ...]) -> tuple[_Update, str, events.OrderEvent]:
    update = _Update()
    update.set((*base, "refunds", refund_key), record)
    condition = (
        f"#version = {update.value(order.version)} AND attribute_exists({update.path(base)}) "
        f"AND attribute_not_exists({update.path((*base, 'refunds', refund_key))})"
    )
    event = events.refund_requested(actor=actor, refund_key=refund_key, amount_fen=record["amount_fen"],
                                    reason=reason)
    return update, condition, event


def mark_refund_accepted(
    order_id: str, refund_key: str, provider_refund_id: str, *, base: tuple[str, ...] = CAPTURE,
    clear_timer: bool = False,
) -> Order | None:
    """The provider took the request (the result may still be pending): never send it again. `clear_timer`
    removes the order's `REFUND` timer too (the provider's notification settles it from here)."""
    update = _Update()
    update.set((*base, "refunds", refund_key, "provider_refund_id"), provider_refund_id)
    state = update.path((*base, "refunds", refund_key, "state"))
    condition = f"{state} = {update.value('requested')}"
    extra = " REMOVE GSI3PK, GSI3SK" if clear_timer else ""
    return _conditional(lambda: update.run(order_id, condition, event=None, extra=extra))


def settle_refund(
    order: Order,
    refund_key: str,
    *,
    succeeded: bool,
    actor: str,
    detail: str | None = None,
    base: tuple[str, ...] = CAPTURE,
    clear_timer: bool = False,
) -> Order | None:
    """requested -> succeeded|failed once; on success add to the capture's `refunded_fen` and update its
    state. `clear_timer` also removes the order's `REFUND` timer (an exited order's grant, settled)."""
    payment: Capture = capture_at(order, base) or {}
    record = payment.get("refunds", {})[refund_key]
    update = _Update()
    update.set((*base, "refunds", refund_key, "state"), "succeeded" if succeeded else "failed")
    update.set((*base, "refunds", refund_key, "settled_at"), now_iso())
    if detail:
        update.set((*base, "refunds", refund_key, "detail"), detail[:200])
    before = payment.get("refunded_fen", 0)
    if succeeded:
        after = before + record["amount_fen"]
        update.set((*base, "refunded_fen"), after)
        update.set((*base, "state"), "refunded" if after >= payment["amount_fen"] else "partially_refunded")
    state = update.path((*base, "refunds", refund_key, "state"))
    refunded = update.path((*base, "refunded_fen"))
    condition = f"{state} = {update.value('requested')} AND {refunded} = {update.value(before)}"
    settled = events.refunded if succeeded else events.refund_failed
    event = settled(actor=actor, refund_key=refund_key, amount_fen=record["amount_fen"], detail=detail)
    extra = " REMOVE GSI3PK, GSI3SK" if clear_timer else ""
    return _conditional(lambda: update.run(order.order_id, condition, event=event, extra=extra))
