"""Order persistence. Every status change is one conditional UpdateItem on status and version that
also appends the timeline event, so state and audit trail can never disagree."""

from __future__ import annotations

from typing import Any

from shared.core import ddb, paging
from shared.core.clock import now_iso
from shared.core.errors import Conflict, NotFound
from shared.orders import logic
from shared.orders.models import OrderStatus

ORDER = "ORDER"
PAGE_SIZE = 20


def order_pk(order_id: str) -> str:
    return f"ORDER#{order_id}"


def order_key(order_id: str) -> dict[str, Any]:
    return ddb.key(order_pk(order_id), ORDER)


def order_key_values(order_id: str) -> dict[str, str]:
    return {"PK": order_pk(order_id), "SK": ORDER}


def put_new(order: dict[str, Any]) -> dict[str, Any] | None:
    """Write a new order once. Returns None when written, or the existing item when the id is taken."""
    try:
        ddb.dynamodb().put_item(
            TableName=ddb.table(), Item=ddb.to_item(order), ConditionExpression="attribute_not_exists(PK)",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
        return None
    except Exception as error:
        if not ddb.is_conditional_failure(error):
            raise
        existing = getattr(error, "response", {}).get("Item")
        return ddb.from_item(existing) if existing else get(order["order_id"], consistent=True)


def get(order_id: str, *, consistent: bool = False) -> dict[str, Any] | None:
    return ddb.get(order_pk(order_id), ORDER, consistent=consistent)


def require(order_id: str, *, consistent: bool = False) -> dict[str, Any]:
    order = get(order_id, consistent=consistent)
    if order is None:
        raise NotFound(f"No order {order_id!r}.", code="order_not_found")
    return order


def transition_update(
    order: dict[str, Any],
    to: OrderStatus,
    *,
    actor: str,
    reason: str | None = None,
    set_fields: dict[str, Any] | None = None,
    remove_fields: tuple[str, ...] = (),
    event_type: str = "status_changed",
    then: tuple[OrderStatus, str] | None = None,
) -> dict[str, Any]:
    """The Update request (usable alone or inside TransactWriteItems) for one legal transition.

    `then=(status, reason)` takes a second legal step in the same write (both events are appended), for a
    move that never rests in between, such as a digital order's DELIVERED -> COMPLETED.
    """
    logic.check_move(order["status"], to)
    at = now_iso()
    steps = [logic.event(at=at, type_=event_type, actor=actor, from_status=order["status"], to_status=to.value,
                         reason=reason)]
    if then is not None:
        logic.check_move(to.value, then[0])
        steps.append(logic.event(at=at, type_=event_type, actor=actor, from_status=to.value,
                                 to_status=then[0].value, reason=then[1]))
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
        ":event": ddb.to_attr([{k: v for k, v in step.items() if v is not None} for step in steps]),
        ":from": ddb.to_attr(order["status"]),
        ":version": ddb.to_attr(order["version"]),
    })
    expression = "SET " + ", ".join(assignments)
    if remove_fields:
        removals = {f"#r{i}": name for i, name in enumerate(remove_fields)}
        names.update(removals)
        expression += " REMOVE " + ", ".join(removals)
    names.update({"#status": "status", "#version": "version"})
    return {
        "TableName": ddb.table(),
        "Key": order_key(order["order_id"]),
        "UpdateExpression": expression,
        "ConditionExpression": "#status = :from AND #version = :version",
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
    }


def transition(order: dict[str, Any], to: OrderStatus, *, actor: str, reason: str | None = None,
               set_fields: dict[str, Any] | None = None, remove_fields: tuple[str, ...] = (),
               then: tuple[OrderStatus, str] | None = None) -> dict[str, Any]:
    """Apply one transition (two with `then`); a lost race answers 409 with the status the order has now."""
    update = transition_update(order, to, actor=actor, reason=reason, set_fields=set_fields,
                               remove_fields=remove_fields, then=then)
    try:
        reply = ddb.dynamodb().update_item(**update, ReturnValues="ALL_NEW",
                                           ReturnValuesOnConditionCheckFailure="ALL_OLD")
    except Exception as error:
        if not ddb.is_conditional_failure(error):
            raise
        current = getattr(error, "response", {}).get("Item")
        status = ddb.from_item(current)["status"] if current else "unknown"
        raise Conflict(f"The order changed meanwhile; it is now {status}.", code="order_changed",
                       current_status=status) from None
    return ddb.from_item(reply["Attributes"])


def append_event(order_id: str, *, type_: str, actor: str, reason: str | None = None,
                 set_fields: dict[str, Any] | None = None, expected_status: str | None = None) -> dict[str, Any]:
    """Record something that happened to the order without changing its status."""
    the_event = logic.event(at=now_iso(), type_=type_, actor=actor, reason=reason)
    fields = {"updated_at": the_event["at"], **(set_fields or {})}
    names = {f"#f{i}": name for i, name in enumerate(fields)}
    values = {f":v{i}": ddb.to_attr(value) for i, value in enumerate(fields.values())}
    values[":event"] = ddb.to_attr([{k: v for k, v in the_event.items() if v is not None}])
    values[":one"] = ddb.to_attr(1)
    condition = "attribute_exists(PK)"
    if expected_status is not None:
        condition += " AND #status = :expected"
        names["#status"] = "status"
        values[":expected"] = ddb.to_attr(expected_status)
    reply = ddb.dynamodb().update_item(
        TableName=ddb.table(), Key=order_key(order_id),
        UpdateExpression="SET " + ", ".join(f"#f{i} = :v{i}" for i in range(len(fields)))
        + ", events = list_append(events, :event), #version = #version + :one",
        ConditionExpression=condition,
        ExpressionAttributeNames={**names, "#version": "version"},
        ExpressionAttributeValues=values,
        ReturnValues="ALL_NEW",
    )
    return ddb.from_item(reply["Attributes"])


def list_for_shopper(shopper_id: str, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
    """Newest first: a keys-only index page, then one BatchGetItem for the page."""
    start = paging.decode(cursor, listing="orders", caller=shopper_id, allowed_keys={"PK", "SK", "GSI1PK", "GSI1SK"})
    request: dict[str, Any] = {
        "TableName": ddb.table(), "IndexName": "by_shopper", "KeyConditionExpression": "GSI1PK = :pk",
        "ExpressionAttributeValues": ddb.values(pk=f"SHOPPER#{shopper_id}"), "ScanIndexForward": False,
        "Limit": PAGE_SIZE,
    }
    if start:
        request["ExclusiveStartKey"] = start
    reply = ddb.dynamodb().query(**request)
    keys = [{"PK": item["PK"], "SK": item["SK"]} for item in reply.get("Items", [])]
    orders = ddb.batch_get(keys)
    by_id = {order["order_id"]: order for order in orders}
    ordered = [by_id[key["PK"]["S"].split("#", 1)[1]] for key in keys if key["PK"]["S"].split("#", 1)[1] in by_id]
    return ordered, paging.encode(reply.get("LastEvaluatedKey"), listing="orders", caller=shopper_id)



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


def get_many(order_ids: list[str], *, consistent: bool = False,
             fields: tuple[str, ...] = ()) -> dict[str, dict[str, Any]]:
    """Orders by id with one BatchGetItem per 100 (missing ones are absent). `fields` (order_id is always
    read) narrows what is returned: the read costs the same units, but a page of 100 whole orders, timelines
    included, is most of a Lambda's CPU to parse, and the caller may need four attributes of each."""
    projection = names = None
    if fields:
        names = {f"#p{i}": name for i, name in enumerate(dict.fromkeys(("order_id", *fields)))}
        projection = ", ".join(names)
    items = ddb.batch_get([order_key(order_id) for order_id in order_ids], consistent=consistent,
                          projection=projection, names=names)
    return {item["order_id"]: item for item in items}


def move_timer(order: dict[str, Any], due: dict[str, str]) -> bool:
    """Re-arm the order's timer (`logic.due_key`) if its status is still the one read; not a state change,
    so the version stays. False when the order moved on meanwhile."""
    try:
        ddb.dynamodb().update_item(
            TableName=ddb.table(), Key=order_key(order["order_id"]),
            UpdateExpression="SET GSI3PK = :pk, GSI3SK = :sk",
            ConditionExpression="#status = :expected",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues=ddb.values(pk=due["GSI3PK"], sk=due["GSI3SK"], expected=order["status"]),
        )
    except Exception as error:
        if ddb.is_conditional_failure(error):
            return False
        raise
    return True
