"""Catalog and stock-bucket access. Stock for a SKU is split across N bucket items so that a hot SKU
spreads its reservations over N partitions' worth of write capacity (see docs/capacity.md)."""

from __future__ import annotations

import json
import time
from typing import Any

from shared.catalog.models import Kind, Sku, SkuCreate, SkuFields, default_return_policy
from shared.core import aws, ddb, paging
from shared.core.clock import now_iso
from shared.core.config import StockSettings, settings
from shared.core.errors import Conflict, Forbidden, NotFound

META = "META"
CATALOG_PARTITION = "CATALOG"
PAGE_SIZE = 20
_CACHE_SECONDS = 30.0
_cache: dict[str, tuple[float, dict[str, Any]]] = {}


def sku_pk(sku: str) -> str:
    return f"SKU#{sku}"


def bucket_sk(index: int) -> str:
    return f"STOCK#{index:03d}"


def bucket_count() -> int:
    return max(1, min(settings(StockSettings).stock_buckets, 90))  # a transaction holds at most 100 items


def split_stock(total: int, buckets: int) -> list[int]:
    base, rest = divmod(total, buckets)
    return [base + (1 if i < rest else 0) for i in range(buckets)]


def create_sku(shop_id: str, new: SkuCreate) -> Sku:
    at = now_iso()
    buckets = bucket_count()
    meta = {
        "PK": sku_pk(new.sku), "SK": META, "sku": new.sku, "shop_id": shop_id, "title": new.title,
        "category": new.category, "kind": new.kind.value, "price_fen": new.price_fen,
        "currency": new.currency.value, **delivery_fields(new), "buckets": buckets, "created_at": at,
        "updated_at": at,
        "search": f"{new.title} {new.category}".lower(), "version": 1,
        "GSI4PK": CATALOG_PARTITION, "GSI4SK": f"{new.category}#{new.sku}",
    }
    writes: list[dict[str, Any]] = [{"Put": {"TableName": ddb.table(), "Item": ddb.to_item(meta),
                                             "ConditionExpression": "attribute_not_exists(PK)"}}]
    for index, units in enumerate(split_stock(new.stock, buckets)):
        bucket = {"PK": sku_pk(new.sku), "SK": bucket_sk(index), "available": units}
        writes.append({"Put": {"TableName": ddb.table(), "Item": ddb.to_item(bucket)}})
    try:
        ddb.transact_write(writes)
    except aws.ClientError as error:
        if ddb.is_conditional_failure(error):
            raise Conflict(f"SKU {new.sku!r} already exists.", code="sku_exists") from None
        raise
    return Sku.model_validate({**meta, "stock": new.stock})


def _owned_meta(shop_id: str, sku: str) -> dict[str, Any]:
    meta = ddb.get(sku_pk(sku), META, consistent=True)
    if meta is None:
        raise NotFound(f"No SKU {sku!r}.", code="sku_not_found")
    if meta["shop_id"] != shop_id:
        raise Forbidden(f"SKU {sku!r} belongs to another shop.", code="not_your_sku")
    return meta


def delivery_fields(fields: SkuFields) -> dict[str, Any]:
    """How the SKU is delivered, as stored: `fulfilment` and `return_policy` always (the policy defaulted by
    kind when not declared), `entitlement` only on entitlement SKUs."""
    policy = fields.return_policy or default_return_policy(fields.kind.value)
    stored: dict[str, Any] = {"fulfilment": fields.fulfilment.value, "return_policy": policy.model_dump(mode="json")}
    if fields.entitlement is not None:
        stored["entitlement"] = fields.entitlement.model_dump()
    return stored


def replace_sku(shop_id: str, sku: str, fields: SkuFields) -> Sku:
    meta = _owned_meta(shop_id, sku)
    delivery = delivery_fields(fields)
    entitlement = ", entitlement = :entitlement" if "entitlement" in delivery else ""
    values = {"entitlement": delivery["entitlement"]} if entitlement else {}
    reply = ddb.dynamodb().update_item(
        TableName=ddb.table(), Key=ddb.key(sku_pk(sku), META),
        UpdateExpression=("SET title = :title, category = :category, kind = :kind, price_fen = :price, "
                          "currency = :currency, updated_at = :at, #search = :search, GSI4SK = :gsk, "
                          "fulfilment = :fulfilment, return_policy = :policy, version = version + :one"
                          + entitlement
                          + ("" if entitlement else " REMOVE entitlement")),
        ConditionExpression="shop_id = :shop AND version = :version",
        ExpressionAttributeNames={"#search": "search"},
        ExpressionAttributeValues=ddb.values(
            title=fields.title, category=fields.category, kind=fields.kind.value, price=fields.price_fen,
            currency=fields.currency.value, at=now_iso(), search=f"{fields.title} {fields.category}".lower(),
            gsk=f"{fields.category}#{sku}", one=1, shop=shop_id, version=meta["version"],
            fulfilment=delivery["fulfilment"], policy=delivery["return_policy"], **values,
        ),
        ReturnValues="ALL_NEW",
    )
    _cache.pop(sku, None)
    return Sku.model_validate({**ddb.from_item(reply["Attributes"]), "stock": available(sku)})


def buckets_of(sku: str, *, consistent: bool = True) -> list[tuple[int, int]]:
    """[(bucket index, available units)] for a SKU, in bucket order."""
    reply = ddb.dynamodb().query(
        TableName=ddb.table(), ConsistentRead=consistent,
        KeyConditionExpression="PK = :pk AND begins_with(SK, :prefix)",
        ExpressionAttributeValues=ddb.values(pk=sku_pk(sku), prefix="STOCK#"),
    )
    rows = [ddb.from_item(item) for item in reply.get("Items", [])]
    return [(int(row["SK"].split("#")[1]), int(row["available"])) for row in rows]


def available(sku: str) -> int:
    return sum(units for _, units in buckets_of(sku, consistent=False))


def set_stock(shop_id: str, sku: str, stock: int, *, attempts: int = ddb.CONTENDED_ATTEMPTS) -> int:
    """Set the sellable units; optimistic on every bucket so a concurrent reservation is never lost."""
    meta = _owned_meta(shop_id, sku)
    for _ in ddb.contended(attempts):  # a reservation moved a bucket (or held it in a transaction): re-read
        current = buckets_of(sku)
        wanted = split_stock(stock, int(meta["buckets"]))
        writes = [
            {"Update": {
                "TableName": ddb.table(), "Key": ddb.key(sku_pk(sku), bucket_sk(index)),
                "UpdateExpression": "SET available = :new",
                "ConditionExpression": "available = :old",
                "ExpressionAttributeValues": ddb.values(new=wanted[index], old=units),
            }}
            for index, units in current
        ]
        try:
            ddb.transact_write(writes)
            return stock
        except aws.ClientError as error:
            if not ddb.is_conditional_failure(error):
                raise
    raise Conflict("Stock is changing too fast; retry.", code="stock_contention")


def get_sku(sku: str) -> Sku:
    meta = ddb.get(sku_pk(sku), META)
    if meta is None:
        raise NotFound(f"No SKU {sku!r}.", code="sku_not_found")
    return Sku.model_validate({**meta, "stock": available(sku)})


PUBLIC = "public"  # the catalog has no caller: its cursors are bound to the search instead


def catalog_listing(q: str | None, category: str | None) -> str:
    # A cursor from one search resumes only that search: another filter's key would skip or repeat items.
    return "catalog?" + json.dumps([q or "", category or ""], ensure_ascii=False)


def list_catalog(*, q: str | None, category: str | None, cursor: str | None) -> tuple[list[Sku], str | None]:
    """Keyword search over title and category. Fine for a demo-sized catalog; at scale the catalog is
    served from a CDN and searched by OpenSearch (docs/capacity.md)."""
    listing = catalog_listing(q, category)
    start = paging.decode(cursor, listing=listing, caller=PUBLIC, allowed_keys={"PK", "SK", "GSI4PK", "GSI4SK"})
    condition = "GSI4PK = :pk" + (" AND begins_with(GSI4SK, :prefix)" if category else "")
    names: dict[str, str] = {}
    expression_values: dict[str, Any] = {"pk": CATALOG_PARTITION}
    if category:
        expression_values["prefix"] = f"{category}#"
    request: dict[str, Any] = {
        "TableName": ddb.table(), "IndexName": "by_category", "KeyConditionExpression": condition,
        "Limit": PAGE_SIZE,
    }
    if q:
        request["FilterExpression"] = "contains(#search, :q)"
        names["#search"] = "search"
        expression_values["q"] = q.strip().lower()
    if names:
        request["ExpressionAttributeNames"] = names
    request["ExpressionAttributeValues"] = ddb.values(**expression_values)
    found: list[Sku] = []
    last_key = start
    for _ in range(10):  # bounded: a filtered page may need a few reads
        if last_key:
            request["ExclusiveStartKey"] = last_key
        reply = ddb.dynamodb().query(**request)
        found.extend(Sku.model_validate(ddb.from_item(item)) for item in reply.get("Items", []))
        last_key = reply.get("LastEvaluatedKey")
        if not last_key or len(found) >= PAGE_SIZE:
            break
    return found, paging.encode(last_key, listing=listing, caller=PUBLIC)


def skus_for_pricing(skus: list[str]) -> dict[str, dict[str, Any]]:
    """SKU metadata for pricing, cached per container for 30 s so the order peak does not turn into
    a read peak on hot SKU items. A price change reaches new orders within that window."""
    clock = time.monotonic()
    found: dict[str, dict[str, Any]] = {}
    missing: list[str] = []
    for sku in skus:
        cached = _cache.get(sku)
        if cached and clock - cached[0] < _CACHE_SECONDS:
            found[sku] = cached[1]
        else:
            missing.append(sku)
    if missing:
        rows = {row["sku"]: row for row in ddb.batch_get(
            [ddb.key(sku_pk(sku), META) for sku in missing],
            projection="sku, shop_id, title, kind, category, price_fen, currency, buckets, entitlement, return_policy",
        )}
        for sku, row in rows.items():  # misses are not cached: a SKU created a second ago must sell
            _cache[sku] = (clock, row)
            found[sku] = row
    return found


def is_digital(row: dict[str, Any]) -> bool:
    return bool(row["kind"] == Kind.DIGITAL.value)
