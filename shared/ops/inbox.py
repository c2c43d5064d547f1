"""Things stored for ops to inspect: callbacks we could not match, trouble flags, rejected orders.

Items: PK=`INBOX#<kind>`, SK=`<at>#<ref>`; one conditional put per (kind, ref), so a partner's retries
of the same callback are stored once.
"""

from __future__ import annotations

import json
from typing import Any

from shared.core import aws, ddb, paging
from shared.core.clock import now_iso

KINDS = ("unmatched_payment", "unmatched_tracking", "trouble_flag", "risk_rejected", "refund_issue")
PAGE_SIZE = 50


def record(kind: str, ref: str, payload: dict[str, Any], *, summary: str) -> bool:
    """Store once per (kind, ref). Returns False when it was already stored."""
    at = now_iso()
    item = {"PK": f"INBOX#{kind}", "SK": f"REF#{ref}", "kind": kind, "ref": ref, "at": at, "summary": summary,
            "payload": json.dumps(payload, ensure_ascii=False, default=str)[:30_000]}
    try:
        ddb.dynamodb().put_item(TableName=ddb.table(), Item=ddb.to_item(item),
                                ConditionExpression="attribute_not_exists(PK)")
        return True
    except aws.ClientError as error:
        if ddb.is_conditional_failure(error):
            return False
        raise


def list_kind(kind: str, cursor: str | None, *, viewer: str) -> tuple[list[dict[str, Any]], str | None]:
    listing = f"ops-inbox/{kind}"
    start = paging.decode(cursor, listing=listing, caller=viewer, allowed_keys={"PK", "SK"})
    request: dict[str, Any] = {
        "TableName": ddb.table(), "KeyConditionExpression": "PK = :pk",
        "ExpressionAttributeValues": ddb.values(pk=f"INBOX#{kind}"), "Limit": PAGE_SIZE,
    }
    if start:
        request["ExclusiveStartKey"] = start
    reply = ddb.dynamodb().query(**request)
    rows = [ddb.from_item(item) for item in reply.get("Items", [])]
    entries = [{"ref": row["ref"], "at": row["at"], "summary": row["summary"],
                "payload": json.loads(row["payload"])} for row in rows]
    return entries, paging.encode(reply.get("LastEvaluatedKey"), listing=listing, caller=viewer)
