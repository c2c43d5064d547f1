"""Digital delivery, the fulfil workflow's `deliver` step.

Idempotency. The provider gets the key `<order_id>:<sku>` and answers the same result for a key it has
already served, so re-calling after a lost reply never delivers twice. What was delivered is recorded
in `delivery.items[sku]`: for a one-item order inside the single conditional transition to DELIVERED (no
extra write); for a multi-item order after each item with a conditional write
(`attribute_not_exists(delivery.items.<sku>)`), so a retry skips the items already recorded.

Routing per item: an order line carrying an `entitlement` spec (a SKU with `fulfilment: entitlement`,
snapshotted at pricing: memberships, ad credits) is granted on order24's own ledger (shared.entitlements,
one conditional put keyed by order + item, so a replay grants once) and is always delivered whole; every
other line goes through the provider adapter. Entitlement lines are taken first: they cannot fail the way an
outside provider can, so a later give-up finds them delivered. A refund of a line revokes what is left of
its entitlement; if the order left FULFILLING (failed and refunded by the sweeper) while this step granted,
the step revokes under the exit's refund key itself.

Partial delivery: the undelivered units are refunded in proportion (see logic.undelivered_refund_fen)
through `shared.payments.refunds.refund(..., refund_key="partial:<sku>")`, idempotent on that key.
Transient provider failures raise DeliveryRetryable (the workflow retries with backoff and jitter); when
retries run out the workflow calls `give_up`, which fails and refunds the order.
Digital orders complete on delivery: FULFILLING -> DELIVERED -> COMPLETED in one write (both events in the
timeline), removing the PAID timer.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from shared.core import aws, ddb
from shared.core.clock import now_iso
from shared.core.errors import Conflict, NotFound
from shared.entitlements import service as entitlements
from shared.fulfilment import logic
from shared.fulfilment.providers import DeliveryResult, DigitalProvider, ProviderRefused, ProviderUnavailable
from shared.orders import store
from shared.orders.aggregate import Line, Order
from shared.orders.models import FINAL_STATUSES, OrderStatus
from shared.orders.steps import StepState

logger = logging.getLogger("order24.delivery")
ACTOR = "system:deliver"
COMPLETE_ON_DELIVERY = (OrderStatus.COMPLETED, "digital_complete_on_delivery")


class DeliveryRetryable(Exception):
    """The provider is briefly unavailable; the fulfil workflow retries this step (by this class name)."""


def _state(order: Order) -> StepState:
    return StepState.of(order)


def _load(order_id: str) -> Order:
    order = store.get(order_id, consistent=True)
    if order is None:
        raise NotFound(f"No order {order_id!r}.", code="order_not_found")
    return order


def _refunds() -> Any:
    from shared.payments import (
        refunds,  # lazy: only partial deliveries and give-ups need the payment adapters
    )

    return refunds


def _record_item(order: Order, sku: str, record: dict[str, Any]) -> Order:
    """Record one delivered item of a multi-item order; a replay that finds it recorded changes nothing."""
    names = {"#d": "delivery", "#i": "items", "#s": sku, "#v": "version", "#st": "status"}
    if order.has("delivery"):
        expression = "SET #d.#i.#s = :rec, #v = #v + :one"
        condition = "#st = :fulfilling AND attribute_not_exists(#d.#i.#s)"
        values = ddb.values(rec=record, one=1, fulfilling=OrderStatus.FULFILLING.value)
    else:
        expression = "SET #d = :delivery, #v = #v + :one"
        condition = "#st = :fulfilling AND attribute_not_exists(#d)"
        values = ddb.values(delivery={"items": {sku: record}}, one=1, fulfilling=OrderStatus.FULFILLING.value)
        del names["#i"], names["#s"]
    try:
        reply = ddb.dynamodb().update_item(
            TableName=ddb.table(),
            Key=store.order_key(order.order_id),
            UpdateExpression=expression,
            ConditionExpression=condition,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            ReturnValues="ALL_NEW",
        )
    except aws.ClientError as error:
        if not ddb.is_conditional_failure(error):
            raise
        return _load(order.order_id)  # someone recorded it (or moved the order) first: take theirs
    return Order.from_ddb(reply["Attributes"])


def _finish(order: Order, items: dict[str, Any]) -> Order:
    """FULFILLING -> DELIVERED -> COMPLETED in one conditional write, dropping the PAID timer."""
    partial = any(int(rec["remaining_units"]) > 0 for rec in items.values())
    delivery = {
        "items": items,
        "delivered_at": now_iso(),
        "refunded_fen": sum(int(rec.get("refund_fen", 0)) for rec in items.values()),
    }
    if order.status is OrderStatus.FULFILLING:
        order = store.transition(
            order,
            OrderStatus.DELIVERED,
            actor=ACTOR,
            reason="partially_delivered" if partial else "delivered",
            set_fields={"delivery": delivery, "fulfilment": {"state": "partial" if partial else "delivered"}},
            remove_fields=("GSI3PK", "GSI3SK"),
            then=COMPLETE_ON_DELIVERY if order.kind == "digital" else None,
        )
    return complete_digital(order)


def complete_digital(order: Order) -> Order:
    """A digital order left DELIVERED (written before completion shared the delivery write) completes."""
    if order.status is not OrderStatus.DELIVERED or order.kind != "digital":
        return order
    return store.transition(order, COMPLETE_ON_DELIVERY[0], actor=ACTOR, reason=COMPLETE_ON_DELIVERY[1])


def deliver(order_id: str, provider: DigitalProvider) -> StepState:
    found = store.get(order_id, consistent=True)
    if found is None:
        logger.warning("deliver: no such order", extra={"order_id": order_id})
        return StepState(order_id=order_id, status="NOT_FOUND", version=0)
    order = found
    if order.status is OrderStatus.DELIVERED:
        return _state(complete_digital(order))  # an order left DELIVERED by an earlier version
    if order.status is not OrderStatus.FULFILLING or order.kind != "digital":
        return _state(order)  # replays of finished orders, and anything not ours, change nothing
    items: dict[str, Any] = dict((order.delivery or {}).get("items") or {})
    lines = sorted(order.items, key=lambda line: not entitlements.is_entitlement(line))  # ours first
    refunded = _refunded_by_cases(order)
    for index, line in enumerate(lines):
        sku = line["sku"]
        if sku in items:
            continue
        if refunded.get(sku, 0) >= int(line["quantity"]):
            # refunded whole by an after-sales case before delivery (a flash refund): not sent, nothing to refund
            record: dict[str, Any] = {"delivered_units": 0, "remaining_units": int(line["quantity"]),
                                      "provider_ref": "", "at": now_iso()}
        else:
            if entitlements.is_entitlement(line):
                result = _grant(order, line)
            else:
                try:
                    result = provider.deliver(order_id, line, str(order.target or ""), f"{order_id}:{sku}")
                except ProviderUnavailable as error:
                    raise DeliveryRetryable(str(error)) from None
                except ProviderRefused as error:
                    logger.warning("provider refused", extra={"order_id": order_id, "sku": sku})
                    return give_up(order_id, {"Error": "ProviderRefused", "Cause": str(error)})
            record = _item_record(order, line, result, single=len(lines) == 1)
        items[sku] = record
        if index < len(lines) - 1:
            order = _record_item(order, sku, record)
            items.update((order.delivery or {}).get("items") or {})
        else:
            order = _load(order_id) if record.get("refund_fen") else order
    if not any(int(rec["delivered_units"]) > 0 for rec in items.values()):
        return _fail(order_id, "nothing_delivered")
    try:
        return _state(_revoke_if_exited(_finish(order, items)))  # _finish leaves an order that left alone
    except Conflict:
        return _state(_revoke_if_exited(_load(order_id)))  # a concurrent replay finished it, or an exit


def _refunded_by_cases(order: Order) -> dict[str, int]:
    from shared.aftersales import flash  # reads nothing unless the ledger holds a case's refund

    return flash.refunded_units(order)


def _grant(order: Order, line: Line) -> DeliveryResult:
    entry = entitlements.grant(order, line)
    return DeliveryResult(int(line["quantity"]), 0, f"entitlement:{entry.kind.value}")


def _revoke_if_exited(order: Order) -> Order:
    """The order was failed/rejected/cancelled and refunded while this step granted: take it back under the
    exit's refund key (the exit's own revoke may have run before the grant existed; the key makes it once)."""
    status = order.status
    if status in FINAL_STATUSES and status is not OrderStatus.COMPLETED and order.payment and any(
        entitlements.is_entitlement(line) for line in order.items
    ):
        entitlements.revoke_order(order, _refunds().EXIT_REFUND_KEYS[status])
    return order


def _item_record(
    order: Order, line: Line, result: DeliveryResult, *, single: bool
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "delivered_units": result.delivered_units,
        "remaining_units": result.remaining_units,
        "provider_ref": result.provider_ref,
        "at": now_iso(),
    }
    # a one-line order with nothing delivered fails and is refunded whole instead (see deliver)
    if result.remaining_units > 0 and (result.delivered_units > 0 or not single):
        record["refund_fen"] = _refund_undelivered(order, line, result.remaining_units, "partial")
    return record


def _refund_undelivered(order: Order, line: Line, remaining: int, why: str) -> int:
    wanted = logic.undelivered_refund_fen(int(line["line_total_fen"]), int(line["quantity"]), remaining)
    amount = logic.capped_refund_fen(wanted, order.payment, int(order.total_fen))
    if amount > 0:
        # an entitlement line lands here only if its grant raised (its put may still have been written)
        entitlements.revoke_line(order, line, remaining, f"{why}:{line['sku']}")
        _refunds().refund(
            _load(order.order_id),
            amount,
            refund_key=f"{why}:{line['sku']}",
            reason=f"{why}_delivery",
            actor=ACTOR,
        )
    return amount


def _fail(order_id: str, reason: str) -> StepState:
    order = _load(order_id)
    if order.status is not OrderStatus.FULFILLING:
        return _state(order)
    with contextlib.suppress(Conflict):  # another writer moved it; report where it is
        _refunds().fail_and_refund(order, reason=reason, actor=ACTOR)
    return _state(_load(order_id))


def give_up(order_id: str, error: dict[str, Any] | None) -> StepState:
    """Retries ran out. Items already delivered stay delivered (the rest is refunded in proportion and the
    order completes as partial); with nothing delivered the order is FAILED and refunded in full."""
    found = store.get(order_id, consistent=True)
    if found is None:
        return StepState(order_id=order_id, status="NOT_FOUND", version=0)
    order = found
    if order.status is not OrderStatus.FULFILLING:
        return _state(order)
    cause = str((error or {}).get("Error") or "unknown")[:60]
    items: dict[str, Any] = dict((order.delivery or {}).get("items") or {})
    if not any(int(rec["delivered_units"]) > 0 for rec in items.values()):
        return _fail(order_id, f"delivery_failed:{cause}")
    refunded = _refunded_by_cases(order)  # units an after-sales case refunded already are not refunded again
    for line in order.items:
        if line["sku"] not in items:
            rest = int(line["quantity"]) - min(refunded.get(line["sku"], 0), int(line["quantity"]))
            refund = _refund_undelivered(order, line, rest, "undelivered") if rest else 0
            items[line["sku"]] = {
                "delivered_units": 0,
                "remaining_units": int(line["quantity"]),
                "provider_ref": "",
                "at": now_iso(),
                "refund_fen": refund,
            }
    try:
        return _state(_finish(_load(order_id), items))
    except Conflict:
        return _state(_load(order_id))
