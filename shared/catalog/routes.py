"""HTTP routes of the catalog: public browsing and merchant SKU management."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from shared.catalog import store
from shared.catalog.models import CatalogPage, Sku, SkuCreate, SkuFields, StockSet
from shared.core.api import require_role
from shared.core.clock import now_iso
from shared.core.types import SkuId, Slug

public = Router()
merchant = Router()


@public.get("/health", summary="Liveness", tags=["ops"])
def health() -> dict[str, str]:
    return {"status": "ok"}


@public.get("/catalog", summary="Browse and search the catalog", tags=["catalog"])
def browse(
    q: Annotated[str | None, Query(max_length=60, description="Keyword in title or category")] = None,
    category: Annotated[Slug | None, Query()] = None,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> CatalogPage:
    items, next_cursor = store.list_catalog(q=q, category=category, cursor=cursor)
    return CatalogPage(items=items, cursor=next_cursor)


@public.get("/catalog/<sku>", summary="One SKU with its stock", tags=["catalog"])
def detail(sku: SkuId) -> Sku:
    return store.get_sku(sku)


@merchant.post("/merchant/skus", summary="Create a SKU in your shop", tags=["merchant"],
               responses={201: {"description": "Created"}})  # it answers 201, not the default 200
def create(body: SkuCreate) -> tuple[Sku, int]:
    caller = require_role(merchant, "merchant")
    return store.create_sku(caller.sub, body), 201


@merchant.put("/merchant/skus/<sku>", summary="Replace a SKU's fields", tags=["merchant"])
def replace(sku: SkuId, body: SkuFields) -> Sku:
    caller = require_role(merchant, "merchant")
    return store.replace_sku(caller.sub, sku, body)


@merchant.put("/merchant/skus/<sku>/stock", summary="Set a SKU's sellable units", tags=["merchant"])
def set_stock(sku: SkuId, body: StockSet) -> dict[str, int | str]:
    caller = require_role(merchant, "merchant")
    return {"sku": sku, "stock": store.set_stock(caller.sub, sku, body.stock)}


Day = Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}-\d{2}$", description="UTC day, default today")]


@merchant.get("/merchant/orders", summary="Your shop's orders of one day, newest first", tags=["merchant"])
def shop_orders(day: Day = None, cursor: Annotated[str | None, Query(max_length=2048)] = None) -> dict[str, Any]:
    from shared.orders import merchant as merchant_orders
    from shared.orders.models import OrderView

    caller = require_role(merchant, "merchant")
    found, next_cursor = merchant_orders.orders_of_day(caller.sub, day or now_iso()[:10], cursor)
    return {"items": [OrderView.of(order).model_dump(mode="json") for order in found],
            "cursor": next_cursor}


@merchant.get("/merchant/sales", summary="Your shop's sales figures for one day", tags=["merchant"])
def shop_sales(day: Day = None) -> dict[str, Any]:
    from shared.orders import merchant as merchant_orders

    caller = require_role(merchant, "merchant")
    return merchant_orders.sales_of_day(caller.sub, day or now_iso()[:10])
