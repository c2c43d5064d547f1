"""HTTP routes of the catalog: public browsing and merchant SKU management."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

# `catalog.merchant_views` (the order models) is imported on first use: the public function never needs it
from shared import catalog
from shared.api.declaration import route
from shared.catalog import store
from shared.catalog.models import CatalogPage, Health, Sku, SkuCreate, SkuFields, StockLevel, StockSet
from shared.core.api import require_role
from shared.core.clock import now_iso
from shared.core.roles import Role
from shared.core.types import SkuId, Slug

public = Router()
merchant = Router()


# GET /health
@route(public, "getHealth", summary="Liveness")
def health() -> Health:
    return Health(status="ok")


# GET /catalog
@route(public, "listCatalog", summary="Browse and search the catalog")
def browse(
    q: Annotated[str | None, Query(max_length=60, description="Keyword in title or category")] = None,
    category: Annotated[Slug | None, Query()] = None,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> CatalogPage:
    items, next_cursor = store.list_catalog(q=q, category=category, cursor=cursor)
    return CatalogPage(items=items, cursor=next_cursor)


# GET /catalog/{sku}
@route(public, "getSku", summary="One SKU with its stock")
def detail(sku: SkuId) -> Sku:
    return store.get_sku(sku)


# POST /merchant/skus
@route(merchant, "createSku", summary="Create a SKU in your shop",
               responses={201: {"description": "Created"}})  # it answers 201, not the default 200
def create(body: SkuCreate) -> tuple[Sku, int]:
    caller = require_role(merchant, Role.MERCHANT)
    return store.create_sku(caller.sub, body), 201


# PUT /merchant/skus/{sku}
@route(merchant, "replaceSku", summary="Replace a SKU's fields")
def replace(sku: SkuId, body: SkuFields) -> Sku:
    caller = require_role(merchant, Role.MERCHANT)
    return store.replace_sku(caller.sub, sku, body)


# PUT /merchant/skus/{sku}/stock
@route(merchant, "setSkuStock", summary="Set a SKU's sellable units")
def set_stock(sku: SkuId, body: StockSet) -> StockLevel:
    caller = require_role(merchant, Role.MERCHANT)
    return StockLevel(sku=sku, stock=store.set_stock(caller.sub, sku, body.stock))


# A calendar date (2026-02-30 is a 422, not a query for a day that cannot exist).
Day = Annotated[date | None, Query(description="UTC day (YYYY-MM-DD), default today")]


def _day_or_today(day: date | None) -> str:
    return day.isoformat() if day else now_iso()[:10]


# GET /merchant/orders
@route(merchant, "listShopOrders", summary="Your shop's orders of one day, newest first")
def shop_orders(
    day: Day = None, cursor: Annotated[str | None, Query(max_length=2048)] = None
) -> catalog.merchant_views.OrderPage:
    from shared.catalog.merchant_views import OrderPage, OrderView
    from shared.orders import merchant as merchant_orders

    caller = require_role(merchant, Role.MERCHANT)
    found, next_cursor = merchant_orders.orders_of_day(caller.sub, _day_or_today(day), cursor)
    return OrderPage(items=[OrderView.of(order) for order in found], cursor=next_cursor)


# GET /merchant/sales
@route(merchant, "getShopSales", summary="Your shop's sales figures for one day")
def shop_sales(day: Day = None) -> catalog.merchant_views.ShopSales:
    from shared.catalog.merchant_views import ShopSales
    from shared.orders import merchant as merchant_orders

    caller = require_role(merchant, Role.MERCHANT)
    return ShopSales.model_validate(merchant_orders.sales_of_day(caller.sub, _day_or_today(day)))
