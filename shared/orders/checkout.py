"""Stock reservation and release. Each is ONE transaction holding the bucket changes and the order's
conditional transition, so a replayed Express step finds the order moved and changes nothing, and stock
is never oversold nor leaked (available + reserved + sold stays equal to what the merchant set)."""

from __future__ import annotations

import logging
import random
from datetime import timedelta
from typing import Any

from shared.catalog import store as catalog
from shared.core import aws, ddb
from shared.core.clock import iso, now
from shared.core.config import CheckoutSettings, settings
from shared.orders import logic, store
from shared.orders.aggregate import Line, Order, OrderHead, Reservations
from shared.orders.events import OrderEvent
from shared.orders.models import OrderStatus
from shared.orders.steps import StepState

logger = logging.getLogger("order24.checkout")
ATTEMPTS = 4


class TransientError(Exception):
    """Retried by the workflow (see infra/workflows.py TRANSIENT_LAMBDA_ERRORS)."""


def payment_timeout() -> timedelta:
    return timedelta(seconds=settings(CheckoutSettings).payment_timeout_seconds)


def _bucket_update(sku: str, bucket: int, delta: int) -> dict[str, Any]:
    """delta < 0 reserves (and must not go below zero); delta > 0 releases."""
    update: dict[str, Any] = {
        "TableName": ddb.table(),
        "Key": ddb.key(catalog.sku_pk(sku), catalog.bucket_sk(bucket)),
        "UpdateExpression": "SET available = available + :delta",
        "ExpressionAttributeValues": ddb.values(delta=delta),
    }
    if delta < 0:
        update["ConditionExpression"] = "available >= :need"
        update["ExpressionAttributeValues"].update(ddb.values(need=-delta))
    return update


def _plan_single_bucket(lines: list[Line], buckets: dict[str, int]) -> Reservations:
    """Optimistic first try: the whole quantity from one random bucket, no read."""
    return {line["sku"]: [[random.randrange(buckets[line["sku"]]), int(line["quantity"])]] for line in lines}


def _plan_from_counts(lines: list[Line]) -> Reservations | str:
    """Split each line over buckets that have stock, starting at a random bucket to spread writes.
    Returns the SKU that is out of stock instead of a plan when one is."""
    plan: Reservations = {}
    for line in lines:
        rows = catalog.buckets_of(line["sku"])
        need = int(line["quantity"])
        if sum(units for _, units in rows) < need:
            return str(line["sku"])
        start = random.randrange(len(rows))
        parts: list[list[int]] = []
        for index, units in rows[start:] + rows[:start]:
            take = min(units, need)
            if take > 0:
                parts.append([index, take])
                need -= take
            if need == 0:
                break
        plan[line["sku"]] = parts
    return plan


def reserve(order_id: str) -> StepState:
    order = store.get(order_id, consistent=True)
    if order is None:
        logger.error("reserve: no such order", extra={"order_id": order_id})
        return StepState(order_id=order_id, status="MISSING")
    if order.status is not OrderStatus.PLACED:
        return _result(order)  # a replay: the first delivery already did the work
    lines = order.items
    meta = catalog.skus_for_pricing([line["sku"] for line in lines])
    buckets = {sku: int(row.get("buckets", 1)) for sku, row in meta.items()}
    plan: Reservations | str = _plan_single_bucket(lines, buckets)
    for attempt in range(ATTEMPTS):
        if isinstance(plan, str):
            return _result(store.transition(order, OrderStatus.REJECTED, actor="system:checkout",
                                            reason=f"out_of_stock:{plan}", remove_fields=("GSI3PK", "GSI3SK")))
        expires = now() + payment_timeout()
        writes = [{"Update": _bucket_update(sku, bucket, -units)} for sku, parts in plan.items()
                  for bucket, units in parts]
        writes.append({"Update": store.transition_update(
            order, OrderStatus.AWAITING_PAYMENT, actor="system:checkout",
            set_fields={"reservations": plan, "expires_at": iso(expires),
                        **logic.due_key("EXPIRY", order_id, iso(expires))},
        )})
        try:
            ddb.transact_write(writes)
            # the transaction's condition pinned status and version, so the result is known without a read
            return StepState(order_id=order_id, status=OrderStatus.AWAITING_PAYMENT.value, version=order.version + 1)
        except aws.ClientError as error:
            if not ddb.is_conditional_failure(error):
                raise
            reasons: list[dict[str, Any]] = error.response.get("CancellationReasons", [])  # type: ignore[assignment]
            if reasons and reasons[-1].get("Code") == "ConditionalCheckFailed":
                return _result(store.require(order_id, consistent=True))  # someone else moved the order
            logger.info("reserve: bucket contention, re-planning", extra={"order_id": order_id, "attempt": attempt})
            plan = _plan_from_counts(lines)
    raise TransientError(f"stock contention on order {order_id}")


def release(order: OrderHead, to: OrderStatus, *, actor: str, reason: str,
            set_fields: dict[str, Any] | None = None, also: tuple[OrderEvent, ...] = ()) -> Order:
    """Move an order out of AWAITING_PAYMENT (or later) and give its reserved units back, atomically;
    returns the order as it is now. `set_fields` and `also` ride in the same write (a refund grant)."""
    release_only(order, to, actor=actor, reason=reason, set_fields=set_fields, also=also)
    return store.require(order.order_id, consistent=True)


def release_only(order: OrderHead, to: OrderStatus, *, actor: str, reason: str,
                 set_fields: dict[str, Any] | None = None, also: tuple[OrderEvent, ...] = ()) -> None:
    """`release` without reading the order back: the expiry path at sale speed needs no result, only the
    one transaction (conditional on status and version; a lost race raises Conflict). The timer and review
    queue keys (`GSI3PK`/`GSI3SK`) are removed in the same write, unless `set_fields` sets a new timer."""
    plan: Reservations = order.reservations or {}
    writes = [{"Update": _bucket_update(sku, int(bucket), int(units))} for sku, parts in plan.items()
              for bucket, units in parts]
    fields = {**({"released": plan} if plan else {}), **(set_fields or {})}
    removed = tuple(name for name in ("GSI3PK", "GSI3SK", "reservations") if name not in fields)
    writes.append({"Update": store.transition_update(order, to, actor=actor, reason=reason,
                                                     remove_fields=removed,
                                                     set_fields=fields or None, also=also)})
    try:
        ddb.transact_write(writes)
    except aws.ClientError as error:
        if not ddb.is_conditional_failure(error):
            raise
        current = store.require(order.order_id, consistent=True)
        from shared.core.errors import Conflict

        raise Conflict(f"The order changed meanwhile; it is now {current.status}.", code="order_changed",
                       current_status=current.status.value) from None


def _result(order: OrderHead) -> StepState:
    return StepState.of(order)
