"""Order persistence: reads give the typed `Order` (shared/orders/aggregate.py), writes take it. Every status
change is one conditional UpdateItem on status and version that also appends its `status_changed` event
(checked against `logic.TRANSITIONS` first), so state and audit trail can never disagree."""

from __future__ import annotations

from typing import Any

from shared.core import aws, ddb, paging
from shared.core.clock import now_iso
from shared.core.errors import Conflict, NotFound
from shared.orders import events, logic
from shared.orders.aggregate import Order, OrderHead
from shared.orders.models import OrderStatus

ORDER = "ORDER"
PAGE_SIZE = 20


def order_pk(order_id: str) -> str:
    return f"ORDER#{order_id}"


def order_key(order_id: str) -> dict[str, Any]:
    return ddb.key(order_pk(order_id), ORDER)


def order_key_values(order_id: str) -> dict[str, str]:
    return {"PK": order_pk(order_id), "SK": ORDER}


def put_new(order: Order) -> Order | None:
    """Write a new order once. Returns None when written, or the existing order when the id is taken."""
    try:
        ddb.dynamodb().put_item(
            TableName=ddb.table(), Item=order.to_ddb(), ConditionExpression="attribute_not_exists(PK)",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
        return None
    except aws.ClientError as error:
        if not ddb.is_conditional_failure(error):
            raise
        return failed_order(error) or get(order.order_id, consistent=True)


def failed_order(error: BaseException) -> Order | None:
    """The order as it stood when a write's condition failed (ReturnValuesOnConditionCheckFailure=ALL_OLD)."""
    item = ddb.failed_item(error)
    return Order.from_item(item) if item else None


def parse(item: dict[str, Any] | None) -> Order | None:
    return Order.from_item(item) if item is not None else None


def get(order_id: str, *, consistent: bool = False) -> Order | None:
    return parse(ddb.get(order_pk(order_id), ORDER, consistent=consistent))


def require(order_id: str, *, consistent: bool = False) -> Order:
    order = get(order_id, consistent=consistent)
    if order is None:
        raise NotFound(f"No order {order_id!r}.", code="order_not_found")
    return order


def transition_update(
    order: OrderHead,
    to: OrderStatus,
    *,
    actor: str,
    reason: str | None = None,
    set_fields: dict[str, Any] | None = None,
    remove_fields: tuple[str, ...] = (),
    then: tuple[OrderStatus, str] | None = None,
    also: tuple[events.OrderEvent, ...] = (),
) -> dict[str, Any]:
    """The Update request (usable alone or inside TransactWriteItems) for one legal transition.

    The move is checked against `logic.TRANSITIONS` and its `status_changed` event built by its one
    constructor; the write is conditional on the status and version read. `then=(status, reason)` takes a
    second legal step in the same write (both events are appended), for a move that never rests in between,
    such as a digital order's DELIVERED -> COMPLETED. `also` appends other facts' events recorded in the same
    write (a paid cancel's refund grant: `refund_requested`), after the status change.
    """
    if any(isinstance(event, events.StatusChanged | events.Placed) for event in also):
        raise TypeError("a status change is built here from the transition table, not passed in")
    logic.check_move(order.status, to)
    at = now_iso()
    steps = [events.status_changed(from_status=order.status, to_status=to, actor=actor, reason=reason, at=at)]
    if then is not None:
        logic.check_move(to, then[0])
        steps.append(events.status_changed(from_status=to, to_status=then[0], actor=actor, reason=then[1], at=at))
        to, reason = then
    fields: dict[str, Any] = {"status": to.value, "updated_at": at, **(set_fields or {})}
    if reason is not None:
        fields["status_reason"] = reason
    names = {f"#f{i}": name for i, name in enumerate(fields)}
    values = {f":v{i}": ddb.to_attr(value) for i, value in enumerate(fields.values())}
    assignments = [f"#f{i} = :v{i}" for i in range(len(fields))]
    assignments += ["#version = #version + :one", "events = list_append(events, :event)"]
    values.update({
        ":one": ddb.to_attr(1),
        ":event": ddb.to_attr(events.to_items([*steps, *also])),
        ":from": ddb.to_attr(order.status.value),
        ":version": ddb.to_attr(order.version),
    })
    expression = "SET " + ", ".join(assignments)
    if remove_fields:
        removals = {f"#r{i}": name for i, name in enumerate(remove_fields)}
        names.update(removals)
        expression += " REMOVE " + ", ".join(removals)
    names.update({"#status": "status", "#version": "version"})
    return {
        "TableName": ddb.table(),
        "Key": order_key(order.order_id),
        "UpdateExpression": expression,
        "ConditionExpression": "#status = :from AND #version = :version",
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
    }


def transition(order: Order, to: OrderStatus, *, actor: str, reason: str | None = None,
               set_fields: dict[str, Any] | None = None, remove_fields: tuple[str, ...] = (),
               then: tuple[OrderStatus, str] | None = None) -> Order:
    """Apply one transition (two with `then`); a lost race answers 409 with the status the order has now."""
    update = transition_update(order, to, actor=actor, reason=reason, set_fields=set_fields,
                               remove_fields=remove_fields, then=then)
    try:
        reply = ddb.dynamodb().update_item(**update, ReturnValues="ALL_NEW",
                                           ReturnValuesOnConditionCheckFailure="ALL_OLD")
    except aws.ClientError as error:
        if not ddb.is_conditional_failure(error):
            raise
        raise changed_meanwhile(failed_order(error)) from None
    return Order.from_ddb(reply["Attributes"])


def changed_meanwhile(current: Order | None) -> Conflict:
    """The 409 for a lost race, naming the status the order has now (from the condition failure's item)."""
    status = str(current.status) if current else "unknown"
    return Conflict(f"The order changed meanwhile; it is now {status}.", code="order_changed",
                    current_status=status)


def append_event(order_id: str, event: events.OrderEvent, *, set_fields: dict[str, Any] | None = None,
                 expected_status: OrderStatus | None = None) -> Order:
    """Record something that happened to the order without changing its status."""
    if isinstance(event, events.StatusChanged | events.Placed):
        raise TypeError("a status change goes through transition(), which checks the transition table")
    fields = {"updated_at": event.at, **(set_fields or {})}
    names = {f"#f{i}": name for i, name in enumerate(fields)}
    values = {f":v{i}": ddb.to_attr(value) for i, value in enumerate(fields.values())}
    values[":event"] = ddb.to_attr([event.to_item()])
    values[":one"] = ddb.to_attr(1)
    condition = "attribute_exists(PK)"
    if expected_status is not None:
        condition += " AND #status = :expected"
        names["#status"] = "status"
        values[":expected"] = ddb.to_attr(expected_status.value)
    reply = ddb.dynamodb().update_item(
        TableName=ddb.table(), Key=order_key(order_id),
        UpdateExpression="SET " + ", ".join(f"#f{i} = :v{i}" for i in range(len(fields)))
        + ", events = list_append(events, :event), #version = #version + :one",
        ConditionExpression=condition,
        ExpressionAttributeNames={**names, "#version": "version"},
        ExpressionAttributeValues=values,
        ReturnValues="ALL_NEW",
    )
    return Order.from_ddb(reply["Attributes"])


def index_page(index: str, key: str, value: str, start: dict[str, Any] | None,
               limit: int) -> tuple[list[Order], dict[str, Any] | None]:
    """Newest first: one page of a keys-only index and its orders (`ddb.index_page`), and the index's
    LastEvaluatedKey (None on the last page)."""
    items, last = ddb.index_page(index, key, value, start, limit)
    return [Order.from_item(item) for item in items], last


def list_for_shopper(shopper_id: str, cursor: str | None) -> tuple[list[Order], str | None]:
    start = paging.decode(cursor, listing="orders", caller=shopper_id, allowed_keys={"PK", "SK", "GSI1PK", "GSI1SK"})
    orders, last = index_page("by_shopper", "GSI1PK", f"SHOPPER#{shopper_id}", start, PAGE_SIZE)
    return orders, paging.encode(last, listing="orders", caller=shopper_id)



def query_due(kind: str, shard: int, before_iso: str, limit: int = 100) -> list[str]:
    """Order ids whose timer of this kind is due, oldest first (keys-only index): the first page."""
    return query_due_page(kind, shard, before_iso, limit=limit)[0]


def query_due_page(kind: str, shard: int, before_iso: str, *, limit: int = 100,
                   start: dict[str, Any] | None = None) -> tuple[list[str], dict[str, Any] | None]:
    """One page of due order ids and the key to continue from (None after the last page)."""
    request: dict[str, Any] = {
        "TableName": ddb.table(), "IndexName": "by_due", "Limit": limit,
        "KeyConditionExpression": "GSI3PK = :pk AND GSI3SK < :before",
        "ExpressionAttributeValues": ddb.values(pk=f"DUE#{kind}#{shard:02d}", before=before_iso),
    }
    if start:
        request["ExclusiveStartKey"] = start
    reply = ddb.dynamodb().query(**request)
    ids = [item["PK"]["S"].split("#", 1)[1] for item in reply.get("Items", [])]
    return ids, reply.get("LastEvaluatedKey")


def _batch(order_ids: list[str], consistent: bool, fields: tuple[str, ...]) -> list[dict[str, Any]]:
    projection = names = None
    if fields:
        names = {f"#p{i}": name for i, name in enumerate(dict.fromkeys(("order_id", *fields)))}
        projection = ", ".join(names)
    return ddb.batch_get([order_key(order_id) for order_id in order_ids], consistent=consistent,
                         projection=projection, names=names)


def get_many(order_ids: list[str], *, consistent: bool = False) -> dict[str, Order]:
    """Orders by id with one BatchGetItem per 100 (missing ones are absent)."""
    return {order.order_id: order for order in map(Order.from_item, _batch(order_ids, consistent, ()))}


HEAD_FIELDS = ("status", "version", "expires_at", "reservations")


def get_heads(order_ids: list[str], *, consistent: bool = False) -> dict[str, OrderHead]:
    """`get_many` narrowed to what a transition needs (`OrderHead`): the read costs the same units, but a page
    of 100 whole orders, timelines included, is most of a Lambda's CPU to parse."""
    heads = map(OrderHead.model_validate, _batch(order_ids, consistent, HEAD_FIELDS))
    return {head.order_id: head for head in heads}


def clear_timer(order: OrderHead) -> bool:
    """Drop the order's `by_due` timer if it is still at the version read. False when it moved meanwhile."""
    try:
        ddb.dynamodb().update_item(
            TableName=ddb.table(), Key=order_key(order.order_id), UpdateExpression="REMOVE GSI3PK, GSI3SK",
            ConditionExpression="#version = :version", ExpressionAttributeNames={"#version": "version"},
            ExpressionAttributeValues=ddb.values(version=order.version),
        )
    except aws.ClientError as error:
        if ddb.is_conditional_failure(error):
            return False
        raise
    return True


def move_timer(order: OrderHead, due: dict[str, str]) -> bool:
    """Re-arm the order's timer (`logic.due_key`) if its status is still the one read; not a state change,
    so the version stays. False when the order moved on meanwhile."""
    try:
        ddb.dynamodb().update_item(
            TableName=ddb.table(), Key=order_key(order.order_id),
            UpdateExpression="SET GSI3PK = :pk, GSI3SK = :sk",
            ConditionExpression="#status = :expected",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues=ddb.values(pk=due["GSI3PK"], sk=due["GSI3SK"], expected=order.status.value),
        )
    except aws.ClientError as error:
        if ddb.is_conditional_failure(error):
            return False
        raise
    return True
