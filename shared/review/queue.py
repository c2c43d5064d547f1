"""The human review queue: orders IN_REVIEW, oldest first, across the 16 shards of the `by_due` index.

Queue entries are the sparse index keys `GSI3PK=DUE#REVIEW#<shard>`, `GSI3SK=<queued_at>#<order_id>`, set by
automatic review with the IN_REVIEW transition and replaced (or removed) by whatever moves the order on.
`GSI3SK` is unique and sorts by time across shards, so one value is a complete cursor: each shard is read
from just after it, the pages are merged, and the oldest PAGE_SIZE are answered.

Cost of a page: 16 Queries on a keys-only index (0.5 RCU each when small) + one BatchGetItem of the page.
"""

from __future__ import annotations

import heapq
from datetime import datetime
from typing import Any

from shared.core import clock, ddb, paging
from shared.orders import logic
from shared.orders import store as orders
from shared.orders.aggregate import Order
from shared.orders.models import OrderStatus

KIND = "REVIEW"
PAGE_SIZE = 20


def _shard_keys(shard: int, after: str | None, limit: int) -> tuple[list[str], bool]:
    """GSI3SK values of one shard, oldest first, after the cursor; and whether the shard has more."""
    condition = "GSI3PK = :pk"
    values: dict[str, Any] = {":pk": ddb.to_attr(f"DUE#{KIND}#{shard:02d}")}
    if after:
        condition += " AND GSI3SK > :after"
        values[":after"] = ddb.to_attr(after)
    reply = ddb.dynamodb().query(
        TableName=ddb.table(),
        IndexName="by_due",
        KeyConditionExpression=condition,
        ExpressionAttributeValues=values,
        Limit=limit,
        ScanIndexForward=True,
    )
    return [item["GSI3SK"]["S"] for item in reply.get("Items", [])], bool(reply.get("LastEvaluatedKey"))


def _entry(order: Order, queue_key: str, now_iso: str) -> dict[str, Any]:
    review = order.review or {}
    claim = review.get("claim") if isinstance(review.get("claim"), dict) else None
    live = claim is not None and str(claim.get("until", "")) > now_iso
    return {
        "order_id": order.order_id,
        "queued_at": review.get("queued_at") or queue_key.rsplit("#", 1)[0],
        "total_fen": int(order.total_fen),
        "currency": order.currency,
        "kind": order.kind,
        "items": [
            {
                "sku": line["sku"],
                "title": line.get("title", ""),
                "category": line.get("category", ""),
                "quantity": int(line["quantity"]),
            }
            for line in order.items
        ],
        "ad_copy": order.ad_copy,
        "target": order.target,
        "highlighted_copy": review.get("highlighted_copy"),
        "reasons": review.get("reasons", []),
        "claimed_by": claim.get("by") if live and claim else None,
        "claim_expires_at": claim.get("until") if live and claim else None,
    }


def page(
    cursor: str | None, *, viewer: str, now: datetime | None = None, size: int = PAGE_SIZE
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of the queue, oldest first, and the cursor of the next page (None at the end)."""
    start = paging.decode(cursor, listing="review-queue", caller=viewer, allowed_keys={"GSI3SK"})
    after = start["GSI3SK"]["S"] if start else None
    per_shard = [_shard_keys(shard, after, size) for shard in range(logic.DUE_SHARDS)]
    merged = list(heapq.merge(*(keys for keys, _ in per_shard)))
    taken = merged[:size]
    more = len(merged) > size or any(more for _, more in per_shard)
    ids = [key.rsplit("#", 1)[1] for key in taken]
    found = orders.get_many(ids)
    now_iso = clock.iso(now or clock.now())
    entries = [
        _entry(found[order_id], key, now_iso)
        for key, order_id in zip(taken, ids, strict=True)
        # The index is eventually consistent: skip an order that has just left review.
        if order_id in found and found[order_id].status is OrderStatus.IN_REVIEW
    ]
    next_cursor = (paging.encode({"GSI3SK": {"S": taken[-1]}}, listing="review-queue", caller=viewer)
                   if more and taken else None)
    return entries, next_cursor


def oldest_age_seconds(now: datetime | None = None) -> int:
    """Seconds the oldest order still IN_REVIEW has waited (0 when the queue is empty).

    For the sweeper to emit as `ReviewQueueOldestAgeSeconds` (the "审核停滞" alarm): 16 Queries of a few keys
    plus one BatchGetItem, so it stays cheap at any queue depth.
    """
    moment = now or clock.now()
    candidates = sorted(key for shard in range(logic.DUE_SHARDS) for key in _shard_keys(shard, None, 5)[0])
    if not candidates:
        return 0
    ids = [key.rsplit("#", 1)[1] for key in candidates]
    found = orders.get_many(ids)
    for key, order_id in zip(candidates, ids, strict=True):
        order = found.get(order_id)
        if order is not None and order.status is OrderStatus.IN_REVIEW:
            queued = clock.parse_iso(key.rsplit("#", 1)[0])
            return max(0, int((moment - queued).total_seconds()))
    return 0
