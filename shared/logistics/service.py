"""Applying a verified partner push to our records: the tracking record first decides, the order follows.

Per push: one GetItem on the tracking-number lookup, one consistent GetItem on the tracking record, and
one conditional write of the record (traces merged, event key remembered). Only milestones touch the
order: 签收 (DELIVERED + COMPLETE timer), 派件 (an "out_for_delivery" event, which the notifier turns into
a notification) and trouble flags (疑难/退签/拒签/退回: a flag on the order plus an ops inbox entry).

Ordering: the order change happens BEFORE the record write and is idempotent against the order itself
(its `fulfilment.state` rank, its status, its `trouble`), so a crash between the two makes the partner's
retry redo only what is missing; the record write last makes the retry's duplicate check pass only once
everything is done. State moves only when `advances` says so and the push is not older than what we have;
every trace is kept either way.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from shared.core import aws, ddb
from shared.core.clock import iso, now, now_iso, parse_iso
from shared.core.errors import Conflict
from shared.logistics import store
from shared.logistics.models import FLAGS, TROUBLE, TrackingState, TrackingUpdate, advances, rank
from shared.orders import events, logic
from shared.orders import store as orders
from shared.orders.aggregate import Order
from shared.orders.models import OrderStatus

logger = logging.getLogger("order24.logistics")
ATTEMPTS = 4
MILESTONES = frozenset({TrackingState.SIGNED, TrackingState.OUT_FOR_DELIVERY, *TROUBLE})
RETURN_BRANCH = frozenset({TrackingState.REFUSED, TrackingState.RETURNING, TrackingState.RETURN_SIGNED})


class TryAgain(Exception):
    """Contention or a dependency hiccup: answer the partner with a failure so it retries."""


def apply_update(update: TrackingUpdate) -> str:
    """Returns the outcome: unmatched | duplicate | applied | kept."""
    target = store.target_for(update.carrier, update.tracking_number)
    if target is not None and target[1] is not None:  # a return parcel: its pushes are the case's
        from shared.aftersales import returns

        return returns.apply_tracking(target[1], update)
    order_id = target[0] if target else None
    if order_id is None:
        from shared.ops import inbox

        inbox.record(
            "unmatched_tracking",
            update.event_key,
            update.model_dump(mode="json"),
            summary=f"{update.partner} {update.carrier} {update.tracking_number} {update.state.value}",
        )
        return "unmatched"
    for _ in range(ATTEMPTS):
        record = store.get_tracking(order_id, consistent=True)
        if record is not None and update.event_key in record.get("seen", []):
            return "duplicate"
        current = TrackingState(record["state"]) if record and record.get("state") else None
        latest = record.get("latest_at") if record else None
        stale = bool(latest and update.latest_at and update.latest_at < parse_iso(latest))
        moved = not stale and advances(current, update.state)
        # only milestones, trouble and the clearing of a flag touch the order (reads and writes cost)
        if moved and (update.state in MILESTONES or (record or {}).get("flagged")):
            _apply_to_order(order_id, update, record)
        try:
            store.put_tracking(_merged(order_id, update, record, moved), record["rev"] if record else None)
        except store.RecordChanged:
            continue
        return "applied" if moved else "kept"
    raise TryAgain("tracking record contended")


def _trace_rows(update: TrackingUpdate) -> list[dict[str, Any]]:
    return [
        {
            "at": iso(t.at),
            "state": t.state.value if t.state else None,
            "raw_status": t.raw_status,
            "context": t.context,
            "area": t.area,
        }
        for t in update.traces
    ]


def _merged(
    order_id: str, update: TrackingUpdate, record: dict[str, Any] | None, moved: bool
) -> dict[str, Any]:
    old = list(record.get("traces", [])) if record else []
    seen_rows = {(row["at"], row["context"], row["raw_status"]) for row in old}
    rows = old + [
        row for row in _trace_rows(update) if (row["at"], row["context"], row["raw_status"]) not in seen_rows
    ]
    rows.sort(key=lambda row: row["at"], reverse=True)  # ISO-Z strings sort as times
    state = update.state.value if moved or record is None else record["state"]
    latest = rows[0]["at"] if rows else (record or {}).get("latest_at")
    flagged = update.state in TROUBLE if moved else bool((record or {}).get("flagged"))
    result = {
        "flagged": flagged,
        "order_id": order_id,
        "carrier": update.carrier,
        "tracking_number": update.tracking_number,
        "state": state,
        "raw_state": update.raw_state if moved else (record or {}).get("raw_state", ""),
        "partner": update.partner,
        "traces": rows[: store.TRACES_KEEP],
        "seen": ([*(record or {}).get("seen", []), update.event_key])[-store.SEEN_KEEP :],
        "rev": int((record or {}).get("rev", 0)) + 1,
        "updated_at": now_iso(),
    }
    if latest:
        result["latest_at"] = latest
    return result


def _apply_to_order(order_id: str, update: TrackingUpdate, record: dict[str, Any] | None) -> None:
    for _ in range(ATTEMPTS):
        order = orders.get(order_id, consistent=True)
        if order is None:
            return
        try:
            _order_change(order, update)
            return
        except Conflict:
            continue  # the order moved meanwhile (another callback, the sweeper): decide again
    raise TryAgain("order contended")


def _order_change(order: Order, update: TrackingUpdate) -> None:
    state, status = update.state, order.status.value
    actor = f"partner:{update.partner}"
    fulfilment = {"state": state.value, "raw_state": update.raw_state, "at": now_iso()}
    known = (order.fulfilment or {}).get("state")
    trouble = order.trouble
    if state is TrackingState.SIGNED:
        if status not in (OrderStatus.SHIPPED.value, OrderStatus.FULFILLING.value):
            return  # already delivered (a replay) or in a final state: nothing to do
        signed_at = update.latest_at or now()
        due = logic.due_key("COMPLETE", order.order_id, iso(signed_at + _window()))
        orders.transition(
            order,
            OrderStatus.DELIVERED,
            actor=actor,
            reason="signed",
            set_fields={"fulfilment": {**fulfilment, "signed_at": iso(signed_at)}, **due},
            remove_fields=("trouble",) if trouble and trouble.get("state") in _flag_values() else (),
        )
        return
    if status not in (OrderStatus.SHIPPED.value, OrderStatus.FULFILLING.value, OrderStatus.DELIVERED.value):
        return
    if state in TROUBLE:
        if trouble and trouble.get("state") == state.value:
            return  # flagged already (a retry after a crash)
        flag = {
            "state": state.value,
            "raw_state": update.raw_state,
            "message": update.message[:200],
            "at": now_iso(),
        }
        # a parcel coming back after 签收 must not auto-complete: ops decide (after-sales)
        hold = status == OrderStatus.DELIVERED.value and state in RETURN_BRANCH
        _append(
            order,
            events.trouble_flag(actor=actor, state=state.value),
            set_fields={"trouble": flag, "fulfilment": fulfilment},
            remove_fields=("GSI3PK", "GSI3SK") if hold else (),
        )
        from shared.ops import inbox

        inbox.record(
            "trouble_flag",
            f"{order.order_id}:{state.value}",
            {
                "order_id": order.order_id,
                "carrier": update.carrier,
                "tracking_number": update.tracking_number,
                "state": state.value,
                "raw_state": update.raw_state,
                "message": update.message,
                "status": status,
            },
            summary=f"{order.order_id} {state.value} ({update.partner} {update.raw_state})",
        )
        return
    if status == OrderStatus.DELIVERED.value:
        return
    clears = (
        trouble is not None
        and trouble.get("state") in _flag_values()
        and rank(state) >= rank(TrackingState.IN_TRANSIT)
    )
    if state is TrackingState.OUT_FOR_DELIVERY and (
        known is None or rank(TrackingState(known)) < rank(state)
    ):
        _append(
            order,
            events.out_for_delivery(actor=actor, raw_state=update.raw_state),
            set_fields={"fulfilment": fulfilment},
            remove_fields=("trouble",) if clears else (),
        )
    elif clears:
        _append(
            order,
            events.trouble_cleared(actor=actor, state=state.value),
            set_fields={"fulfilment": fulfilment},
            remove_fields=("trouble",),
        )


def _flag_values() -> set[str]:
    return {flag.value for flag in FLAGS}


def _window() -> timedelta:
    from shared.orders.completion import return_window

    return return_window()


def _append(
    order: Order,
    event: events.OrderEvent,
    *,
    set_fields: dict[str, Any],
    remove_fields: tuple[str, ...] = (),
) -> None:
    """A non-status event, conditional on the version we read (raises Conflict when the order moved)."""
    fields = {"updated_at": event.at, **set_fields}
    names = {f"#f{i}": name for i, name in enumerate(fields)}
    values = {f":v{i}": ddb.to_attr(value) for i, value in enumerate(fields.values())}
    values.update(
        {
            ":event": ddb.to_attr([event.to_item()]),
            ":one": ddb.to_attr(1),
            ":version": ddb.to_attr(order.version),
        }
    )
    expression = (
        "SET "
        + ", ".join(f"#f{i} = :v{i}" for i in range(len(fields)))
        + ", events = list_append(events, :event), #version = #version + :one"
    )
    if remove_fields:
        removals = {f"#r{i}": name for i, name in enumerate(remove_fields)}
        names.update(removals)
        expression += " REMOVE " + ", ".join(removals)
    try:
        ddb.dynamodb().update_item(
            TableName=ddb.table(),
            Key=orders.order_key(order.order_id),
            UpdateExpression=expression,
            ConditionExpression="#version = :version",
            ExpressionAttributeNames={**names, "#version": "version"},
            ExpressionAttributeValues=values,
        )
    except aws.ClientError as error:
        if ddb.is_conditional_failure(error):
            raise Conflict("The order changed meanwhile.", code="order_changed") from None
        raise
