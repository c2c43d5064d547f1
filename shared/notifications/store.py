"""Notification items: PK=`NOTIFY#<shopper>`, SK=`<at>#<order_id>#<n>`; the read marker SK=`READMARK`.

ISO timestamps start with a digit, so every notification sorts before `READMARK` and one key condition
(`SK < READMARK`) reads them newest first without the marker.
"""

from __future__ import annotations

from typing import Any

from shared.core import aws, ddb, paging
from shared.core.clock import now_iso

READMARK = "READMARK"
PAGE_SIZE = 20


def pk(shopper_id: str) -> str:
    return f"NOTIFY#{shopper_id}"


def already_stored(notes: list[dict[str, Any]]) -> set[str]:
    """The `sk` of each note that is stored already: one consistent BatchGetItem per 100 notes."""
    found = ddb.batch_get([ddb.key(pk(note["shopper_id"]), note["sk"]) for note in notes], projection="SK",
                          consistent=True)
    return {str(item["SK"]) for item in found}


def put_once(note: dict[str, Any]) -> bool:
    item = {"PK": pk(note["shopper_id"]), "SK": note["sk"], **{k: v for k, v in note.items() if k != "sk"}}
    try:
        ddb.dynamodb().put_item(
            TableName=ddb.table(), Item=ddb.to_item(item), ConditionExpression="attribute_not_exists(PK)"
        )
        return True
    except aws.ClientError as error:
        if ddb.is_conditional_failure(error):
            return False
        raise


def page(shopper_id: str, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
    start = paging.decode(cursor, listing="notifications", caller=shopper_id, allowed_keys={"PK", "SK"})
    request: dict[str, Any] = {
        "TableName": ddb.table(),
        "KeyConditionExpression": "PK = :pk AND SK < :mark",
        "ExpressionAttributeValues": ddb.values(pk=pk(shopper_id), mark=READMARK),
        "ScanIndexForward": False,
        "Limit": PAGE_SIZE,
    }
    if start:
        request["ExclusiveStartKey"] = start
    reply = ddb.dynamodb().query(**request)
    return [ddb.from_item(item) for item in reply.get("Items", [])], paging.encode(
        reply.get("LastEvaluatedKey"), listing="notifications", caller=shopper_id
    )


def read_up_to(shopper_id: str) -> str | None:
    item = ddb.get(pk(shopper_id), READMARK)
    return str(item["read_up_to"]) if item else None


def mark_read(shopper_id: str, up_to: str) -> str:
    """Move the marker forward only (conditional); returns the marker as stored."""
    try:
        ddb.dynamodb().update_item(
            TableName=ddb.table(),
            Key=ddb.key(pk(shopper_id), READMARK),
            UpdateExpression="SET read_up_to = :m, updated_at = :at",
            ConditionExpression="attribute_not_exists(read_up_to) OR read_up_to < :m",
            ExpressionAttributeValues=ddb.values(m=up_to, at=now_iso()),
        )
        return up_to
    except aws.ClientError as error:
        if not ddb.is_conditional_failure(error):
            raise
    return read_up_to(shopper_id) or up_to
