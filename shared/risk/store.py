"""Risk data in the single table: velocity counters, shopper history, block lists.

Items
  velocity   PK=VEL#<dim>#<value>  SK=<hour start, e.g. 2025-01-01T10:00Z>   m00..m59 (orders per minute),
             expires_at_epoch (TTL, hour + 3 h; moto never expires it, so reads filter by time themselves)
  history    PK=SHOPPER#<id>       SK=RISK     order_count, sum_amount_fen, max_amount_fen, first_seen,
             last_order_id, updated_at
  block list PK=BLOCK#<kind>       SK=<value>  reason, created_at       (kind: shopper, device, ip, target)

Why one item per dimension per hour with a counter attribute per minute, instead of one item per minute:
a write is still one `ADD mMM :one` (1 WCU, atomic, creates the item), and the 61 minutes a 1-hour window
needs live in at most 2 items, so each dimension reads with one Query of <= 4 KB (0.5 RCU) instead of up to
61 items. An hour item holds at most 60 small numbers (< 1 KB), so every write stays 1 WCU.

Units per order (on-demand; eventually consistent reads cost 0.5 RCU per 4 KB, a missing key still 0.5):
  load_signals   1 BatchGetItem: history (+ block keys not served by the block-list cache, see below)
                                                                       0.5 RCU (cache warm) .. 2.5 RCU
                 1 Query per present dimension (shopper, device, ip)   <= 3 x 0.5 = 1.5 RCU
                                                                       => <= 2 RCU warm (<= 4 cold), 2-4 trips
  record_order   1 UpdateItem on history (count, sum, max, first_seen)   1 WCU
                 1 UpdateItem per present dimension (ADD mMM)          <= 3 WCU
                                                                       => <= 4 WCU
                 a dimension already saturated this minute skips its write (see below).

Block-list cache. Block lists are small and change rarely, so each container reads a whole list (one Query
per kind, `PK=BLOCK#<kind>`) at most once per `RISK_BLOCK_CACHE_SECONDS` (default 60; 0 turns the cache off)
and answers membership from memory. A list longer than BLOCK_CACHE_MAX_ITEMS is not cached: that kind is
looked up per order by key, as before. Trade-off: a new block (or unblock) takes up to that many seconds to
reach a warm container; ops tooling says so, and the score of the next order after that is exact.

Hot partitions. One item takes 1,000 WCU/s and 3,000 RCU/s. A shopper or a device cannot get near that,
but one IP behind a carrier-grade NAT can carry thousands of real shoppers. We bound it two ways:
  * saturation: once a dimension shows >= VELOCITY_SATURATION orders in the current 1-minute window, we stop
    incrementing it (the score has long fired; an exact count adds nothing). Writes to one IP item are then
    capped near VELOCITY_SATURATION per minute (default 600 -> ~10 WCU/s) plus the orders in flight.
  * a per-container memo: a saturated key is not queried again for SATURATION_MEMO seconds; its count is
    reported as saturated. That caps the reads of a hot IP item per container, not just the writes.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, get_args

from shared.core import aws, clock
from shared.core.config import RiskSettings, settings
from shared.core.ddb import (
    batch_get,
    dynamodb,
    failed_item,
    from_item,
    get,
    is_conditional_failure,
    key,
    table,
    to_attr,
)
from shared.risk.models import BlockKind, OrderFacts, RiskSignals, VelocityDim

_DIMS: tuple[VelocityDim, ...] = get_args(VelocityDim)
HISTORY_SK = "RISK"
TTL_AFTER_HOUR = timedelta(hours=3)  # the 1-hour window reads the current and the previous hour item
SATURATION_MEMO = timedelta(seconds=10)

# pk -> (memo valid until, saturated 1m count, 1h count) for keys seen saturated in this container
_saturated: dict[str, tuple[datetime, int, int]] = {}


def velocity_saturation() -> int:
    return settings(RiskSettings).velocity_saturation


def velocity_pk(dim: VelocityDim, value: str) -> str:
    return f"VEL#{dim}#{value}"


def hour_sk(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:00Z")


def _minute_floor(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(second=0, microsecond=0)


def _epoch_minute(moment: datetime) -> int:
    return int(_minute_floor(moment).timestamp()) // 60


def _dim_values(facts: OrderFacts | RiskSignals) -> dict[VelocityDim, str]:
    found: dict[VelocityDim, str] = {"shopper": facts.shopper_id}
    if facts.device_id:
        found["device"] = facts.device_id
    if facts.ip:
        found["ip"] = facts.ip
    return found


def _block_values(facts: OrderFacts) -> dict[BlockKind, str]:
    found: dict[BlockKind, str] = {"shopper": facts.shopper_id}
    if facts.device_id:
        found["device"] = facts.device_id
    if facts.ip:
        found["ip"] = facts.ip
    if facts.target:
        found["target"] = facts.target
    return found


# ---------------------------------------------------------------- block lists


def block(kind: BlockKind, value: str, reason: str, *, now: datetime | None = None) -> None:
    """Put a value on a block list (ops tooling and tests)."""
    at = clock.iso(now or clock.now())
    item = {**key(f"BLOCK#{kind}", value), "reason": to_attr(reason), "created_at": to_attr(at)}
    dynamodb().put_item(TableName=table(), Item=item)
    _block_cache.pop(kind, None)  # this container sees its own change at once; others within the cache TTL


def unblock(kind: BlockKind, value: str) -> None:
    dynamodb().delete_item(TableName=table(), Key=key(f"BLOCK#{kind}", value))
    _block_cache.pop(kind, None)


BLOCK_CACHE_MAX_ITEMS = 1000
# kind -> (valid until, the blocked values, or None when the list is too long to cache)
_block_cache: dict[BlockKind, tuple[datetime, frozenset[str] | None]] = {}


def block_cache_seconds() -> int:
    return settings(RiskSettings).risk_block_cache_seconds


def _cached_block_list(kind: BlockKind, now: datetime) -> frozenset[str] | None:
    """The whole block list of one kind from memory (refreshed by one Query), or None: look up by key."""
    ttl = block_cache_seconds()
    if ttl <= 0:
        return None
    hit = _block_cache.get(kind)
    if hit is not None and hit[0] > now:
        return hit[1]
    reply = dynamodb().query(
        TableName=table(),
        KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": to_attr(f"BLOCK#{kind}")},
        ProjectionExpression="SK",
        Limit=BLOCK_CACHE_MAX_ITEMS,
        ConsistentRead=False,
    )
    listed: frozenset[str] | None = frozenset(str(item["SK"]["S"]) for item in reply.get("Items", []))
    if reply.get("LastEvaluatedKey"):
        listed = None  # too long to hold: per-order key lookups for this kind
    _block_cache[kind] = (now + timedelta(seconds=ttl), listed)
    return listed


def blocked_kinds(
    values: dict[BlockKind, str],
    *,
    extra_keys: Iterable[dict[str, Any]] = (),
    now: datetime | None = None,
) -> tuple[frozenset[BlockKind], list[dict[str, Any]]]:
    """Which of the given values are blocked (block-list cache, then one BatchGetItem for the rest);
    also returns the extra items asked for."""
    moment = now or clock.now()
    hits: set[BlockKind] = set()
    by_key: dict[BlockKind, str] = {}
    for kind, value in values.items():
        listed = _cached_block_list(kind, moment)
        if listed is None:
            by_key[kind] = value
        elif value in listed:
            hits.add(kind)
    keys = [key(f"BLOCK#{kind}", value) for kind, value in by_key.items()]
    keys.extend(extra_keys)
    items = batch_get(keys) if keys else []
    rest: list[dict[str, Any]] = []
    for item in items:
        pk = str(item["PK"])
        if pk.startswith("BLOCK#"):
            hits.update(
                kind for kind, value in by_key.items() if pk == f"BLOCK#{kind}" and value == item["SK"]
            )
        else:
            rest.append(item)
    return frozenset(hits), rest


# ---------------------------------------------------------------- velocity


def _read_velocity(dim: VelocityDim, value: str, now: datetime) -> tuple[int, int]:
    """(orders in the last 1-minute window, in the last 1-hour window), before this order.

    Windows are whole minute buckets: 1 minute = the current and the previous bucket, 1 hour = the current
    and the 60 before it. They cover at least the last 60 s / 60 min (at most one bucket more): for fraud,
    counting a little long is the safe side.
    """
    pk = velocity_pk(dim, value)
    memo = _saturated.get(pk)
    if memo is not None and memo[0] > now:
        return memo[1], memo[2]
    current = _epoch_minute(now)
    reply = dynamodb().query(
        TableName=table(),
        KeyConditionExpression="PK = :pk AND SK BETWEEN :from AND :to",
        ExpressionAttributeValues={
            ":pk": to_attr(pk),
            ":from": to_attr(hour_sk(now - timedelta(hours=1))),
            ":to": to_attr(hour_sk(now)),
        },
        ConsistentRead=False,
    )
    last_1m = last_1h = 0
    for raw in reply.get("Items", []):
        item = from_item(raw)
        hour_start = datetime.strptime(str(item["SK"]), "%Y-%m-%dT%H:00Z").replace(tzinfo=UTC)
        base = _epoch_minute(hour_start)
        for name, count in item.items():
            if len(name) == 3 and name[0] == "m" and name[1:].isdigit():
                age = current - (base + int(name[1:]))
                if 0 <= age <= 60:
                    last_1h += int(count)
                if 0 <= age <= 1:
                    last_1m += int(count)
    if last_1m >= velocity_saturation():
        _saturated[pk] = (now + SATURATION_MEMO, last_1m, last_1h)
    return last_1m, last_1h


def _bump_velocity(dim: VelocityDim, value: str, now: datetime) -> None:
    hour_start = _minute_floor(now).replace(minute=0)
    dynamodb().update_item(
        TableName=table(),
        Key=key(velocity_pk(dim, value), hour_sk(now)),
        UpdateExpression="ADD #m :one SET expires_at_epoch = :exp",
        ExpressionAttributeNames={"#m": f"m{now.astimezone(UTC).minute:02d}"},
        ExpressionAttributeValues={
            ":one": to_attr(1),
            ":exp": to_attr(int((hour_start + TTL_AFTER_HOUR).timestamp())),
        },
    )


# ---------------------------------------------------------------- signals and recording


def load_signals(facts: OrderFacts, *, now: datetime | None = None) -> RiskSignals:
    """Gather every signal for one order: 1 BatchGetItem (history + block lists) and 1 Query per dimension."""
    moment = now or clock.now()
    history_key = key(f"SHOPPER#{facts.shopper_id}", HISTORY_SK)
    blocked, others = blocked_kinds(_block_values(facts), extra_keys=[history_key], now=moment)
    history = others[0] if others else {}
    order_count = int(history.get("order_count", 0))
    velocity = {dim: _read_velocity(dim, value, moment) for dim, value in _dim_values(facts).items()}
    zero = (0, 0)
    return RiskSignals(
        shopper_id=facts.shopper_id,
        order_id=facts.order_id,
        device_id=facts.device_id,
        ip=facts.ip,
        ip_region=facts.ip_region,
        shipping_region=facts.shipping_region,
        amount_fen=facts.amount_fen,
        currency=facts.currency,
        account_created_at=facts.account_created_at,
        target=facts.target,
        shopper_orders_1m=velocity["shopper"][0],
        shopper_orders_1h=velocity["shopper"][1],
        device_orders_1m=velocity.get("device", zero)[0],
        device_orders_1h=velocity.get("device", zero)[1],
        ip_orders_1m=velocity.get("ip", zero)[0],
        ip_orders_1h=velocity.get("ip", zero)[1],
        history_order_count=order_count,
        history_max_amount_fen=int(history.get("max_amount_fen", 0)),
        history_avg_amount_fen=int(history.get("sum_amount_fen", 0)) // order_count if order_count else 0,
        blocked=blocked,
    )


def shopper_history(shopper_id: str) -> dict[str, Any]:
    """The shopper's history item (order_count, sum/max amount, first_seen), {} for a shopper never scored; one
    GetItem (shared/aftersales/flash.py reads it for a shopper's standing)."""
    return get(f"SHOPPER#{shopper_id}", HISTORY_SK) or {}


def _update_history(signals: RiskSignals, at: str, *, set_max: bool) -> bool:
    """One UpdateItem. False when the order was already recorded (an immediate replay of the same order)."""
    update = (
        "ADD order_count :one, sum_amount_fen :amt"
        " SET first_seen = if_not_exists(first_seen, :at), updated_at = :at"
    )
    conditions: list[str] = []
    names: dict[str, str] = {}
    vals: dict[str, Any] = {":one": to_attr(1), ":amt": to_attr(signals.amount_fen), ":at": to_attr(at)}
    if signals.order_id:
        update += ", last_order_id = :oid"
        # Express workflows deliver at least once: a replayed step must not count the order twice.
        conditions.append("(attribute_not_exists(last_order_id) OR last_order_id <> :oid)")
        vals[":oid"] = to_attr(signals.order_id)
    if set_max:
        update += ", #max = :amt"
        conditions.append("(attribute_not_exists(#max) OR #max < :amt)")
        names["#max"] = "max_amount_fen"
    request: dict[str, Any] = {
        "TableName": table(),
        "Key": key(f"SHOPPER#{signals.shopper_id}", HISTORY_SK),
        "UpdateExpression": update,
        "ExpressionAttributeValues": vals,
    }
    if conditions:
        request["ConditionExpression"] = " AND ".join(conditions)
        request["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    if names:
        request["ExpressionAttributeNames"] = names
    try:
        dynamodb().update_item(**request)
        return True
    except aws.ClientError as error:
        if not is_conditional_failure(error):
            raise
        old = failed_item(error) or {}
        if signals.order_id and old.get("last_order_id") == signals.order_id:
            return False
        if set_max:  # a concurrent order raised the max past ours: record without touching it
            return _update_history(signals, at, set_max=False)
        raise


def record_order(signals: RiskSignals, *, now: datetime | None = None) -> bool:
    """Count the order into history and velocity. Returns False (and writes nothing more) on a replay."""
    moment = now or clock.now()
    set_max = signals.amount_fen > signals.history_max_amount_fen
    if not _update_history(signals, clock.iso(moment), set_max=set_max):
        return False
    saturation = velocity_saturation()
    for dim, value in _dim_values(signals).items():
        if signals.velocity(dim)[0] >= saturation:
            continue  # bounded hot partition: see the module docstring
        _bump_velocity(dim, value, moment)
    return True


def reset_memo() -> None:
    """Tests: forget keys seen saturated and the cached block lists."""
    _saturated.clear()
    _block_cache.clear()
