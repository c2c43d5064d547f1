"""Ledger items in the single table: PK=`ENT#<shopper_id>`, SK=`<order_id>#<sku>#<reference>`.

One item per fact (a grant, a revoke per refund, a spend), written with `attribute_not_exists(PK)`: the key
is the idempotency key, so a replayed deliver step or refund writes nothing. Entries are never updated or
deleted; no index is projected, so an entry costs 1 WRU (it stays well under 1 KB).
"""

from __future__ import annotations

from typing import Any

from shared.core import aws, ddb
from shared.entitlements.models import Entry


def pk(shopper_id: str) -> str:
    return f"ENT#{shopper_id}"


def sk(order_id: str, sku: str, reference: str) -> str:
    return f"{order_id}#{sku}#{reference}"


def append(shopper_id: str, entry: Entry) -> bool:
    """Write the entry once. False when it was written before (a replay): nothing changes."""
    item = {"PK": pk(shopper_id), "SK": sk(entry.order_id, entry.sku, entry.reference),
            **entry.model_dump(mode="json")}
    try:
        ddb.dynamodb().put_item(
            TableName=ddb.table(), Item=ddb.to_item(item), ConditionExpression="attribute_not_exists(PK)"
        )
    except aws.ClientError as error:
        if ddb.is_conditional_failure(error):
            return False
        raise
    return True


def entries(shopper_id: str, *, consistent: bool = False) -> list[Entry]:
    """Every entry of the shopper (a shopper holds a few; all pages are read, as the balance needs all)."""
    request: dict[str, Any] = {
        "TableName": ddb.table(),
        "KeyConditionExpression": "PK = :pk",
        "ExpressionAttributeValues": ddb.values(pk=pk(shopper_id)),
        "ConsistentRead": consistent,
    }
    found: list[Entry] = []
    while True:
        reply = ddb.dynamodb().query(**request)
        found.extend(Entry.model_validate(ddb.from_item(item)) for item in reply.get("Items", []))
        if not reply.get("LastEvaluatedKey"):
            return found
        request["ExclusiveStartKey"] = reply["LastEvaluatedKey"]
