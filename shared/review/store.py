"""Shopper qualifications on file (licences for special industries), in the single table.

Item: PK=`SHOPPER#<shopper_id>`, SK=`QUAL#<industry>`; industry (a section name of
`data/special_industries.txt`), licence_no, valid_until (ISO, optional), added_at.
One item per industry, so adding or revoking a licence is one small write, and reading all of a shopper's
licences is one Query (0.5 RCU). Automatic review reads them only when the copy touches a licensed
industry, so the fast lane pays nothing for them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.core import clock, ddb

QUAL_PREFIX = "QUAL#"


def add_qualification(
    shopper_id: str, industry: str, *, licence_no: str, valid_until: datetime | None = None
) -> None:
    item: dict[str, Any] = {
        "PK": f"SHOPPER#{shopper_id}",
        "SK": f"{QUAL_PREFIX}{industry}",
        "industry": industry,
        "licence_no": licence_no,
        "added_at": clock.now_iso(),
    }
    if valid_until is not None:
        item["valid_until"] = clock.iso(valid_until)
    ddb.dynamodb().put_item(TableName=ddb.table(), Item=ddb.to_item(item))


def revoke_qualification(shopper_id: str, industry: str) -> None:
    ddb.dynamodb().delete_item(
        TableName=ddb.table(), Key=ddb.key(f"SHOPPER#{shopper_id}", f"{QUAL_PREFIX}{industry}")
    )


def qualifications(shopper_id: str, *, now: datetime | None = None) -> frozenset[str]:
    """Industries with a licence on file that has not expired."""
    moment = clock.iso(now or clock.now())
    reply = ddb.dynamodb().query(
        TableName=ddb.table(),
        KeyConditionExpression="PK = :pk AND begins_with(SK, :prefix)",
        ExpressionAttributeValues=ddb.values(pk=f"SHOPPER#{shopper_id}", prefix=QUAL_PREFIX),
    )
    found = (ddb.from_item(raw) for raw in reply.get("Items", []))
    return frozenset(
        str(item["industry"]) for item in found if not item.get("valid_until") or item["valid_until"] > moment
    )
