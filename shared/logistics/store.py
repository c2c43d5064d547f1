"""Logistics items in the single table.

* tracking number lookup: PK=`TRACK#<carrier>#<number>`, SK=`TRACK` -> order_id (one GetItem per callback),
  and case_id for a return parcel (its pushes go to the case: shared/aftersales/returns.py);
* tracking record: PK=`ORDER#<id>`, SK=`TRACKING`: carrier, tracking_number, state, traces (newest first),
  seen (recent event keys, for duplicate pushes), rev (optimistic concurrency).
"""

from __future__ import annotations

from typing import Any

from shared.core import aws, ddb
from shared.orders.store import order_pk

TRACKING = "TRACKING"
SEEN_KEEP = 50  # partners retry recent pushes; older keys are never seen again
TRACES_KEEP = 200


class RecordChanged(Exception):
    """Another callback wrote the tracking record first; re-read and try again."""


def lookup_pk(carrier: str, number: str) -> str:
    return f"TRACK#{carrier.lower()}#{number}"


def put_lookup(carrier: str, number: str, order_id: str) -> None:
    """Idempotent: the same (carrier, number) may only ever point at one order."""
    item = {"PK": lookup_pk(carrier, number), "SK": "TRACK", "order_id": order_id}
    try:
        ddb.dynamodb().put_item(
            TableName=ddb.table(),
            Item=ddb.to_item(item),
            ConditionExpression="attribute_not_exists(PK) OR order_id = :o",
            ExpressionAttributeValues=ddb.values(o=order_id),
        )
    except aws.ClientError as error:
        if ddb.is_conditional_failure(error):
            raise ValueError(f"tracking number {number} already belongs to another order") from None
        raise


def put_return_lookup(carrier: str, number: str, order_id: str, case_id: str) -> None:
    """A return parcel's lookup (shared/aftersales/returns.py): the same item, naming the case as well, so the
    same pushes find the case instead of the order. Idempotent for the same case; a number that already
    belongs to another parcel (an outbound one, or another case's) raises ValueError."""
    item = {"PK": lookup_pk(carrier, number), "SK": "TRACK", "order_id": order_id, "case_id": case_id}
    try:
        ddb.dynamodb().put_item(
            TableName=ddb.table(),
            Item=ddb.to_item(item),
            ConditionExpression="attribute_not_exists(PK) OR case_id = :c",
            ExpressionAttributeValues=ddb.values(c=case_id),
        )
    except aws.ClientError as error:
        if ddb.is_conditional_failure(error):
            raise ValueError(f"tracking number {number} already belongs to another parcel") from None
        raise


def target_for(carrier: str, number: str) -> tuple[str, str | None] | None:
    """(order_id, case_id) of the parcel: case_id is set for a return parcel, None for an outbound one."""
    item = ddb.get(lookup_pk(carrier, number), "TRACK")
    if not item:
        return None
    return str(item["order_id"]), (str(item["case_id"]) if item.get("case_id") else None)


def order_for(carrier: str, number: str) -> str | None:
    target = target_for(carrier, number)
    return target[0] if target else None


def get_tracking(order_id: str, *, consistent: bool = False) -> dict[str, Any] | None:
    return ddb.get(order_pk(order_id), TRACKING, consistent=consistent)


def put_tracking(record: dict[str, Any], previous_rev: int | None) -> None:
    """Write the whole record, conditional on the revision we read (None: it must not exist yet)."""
    item = {**record, "PK": order_pk(record["order_id"]), "SK": TRACKING}
    request: dict[str, Any] = {"TableName": ddb.table(), "Item": ddb.to_item(item)}
    if previous_rev is None:
        request["ConditionExpression"] = "attribute_not_exists(PK)"
    else:
        request["ConditionExpression"] = "rev = :rev"
        request["ExpressionAttributeValues"] = ddb.values(rev=previous_rev)
    try:
        ddb.dynamodb().put_item(**request)
    except aws.ClientError as error:
        if ddb.is_conditional_failure(error):
            raise RecordChanged() from None
        raise
