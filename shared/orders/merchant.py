"""A merchant's own orders and sales figures, from the keys-only `by_shop_day` index."""

from __future__ import annotations

from typing import Any

from shared.core import paging
from shared.orders import store
from shared.orders.aggregate import Order
from shared.orders.models import OrderStatus

PAGE_SIZE = 50
SALES_SCAN_LIMIT = 2000  # a day's figures are computed on read; beyond this the answer says it is partial

PAID_STATUSES = {OrderStatus.PAID, OrderStatus.IN_REVIEW, OrderStatus.FULFILLING, OrderStatus.SHIPPED,
                 OrderStatus.DELIVERED, OrderStatus.COMPLETED}


def _day_page(shop_id: str, day: str, start: dict[str, Any] | None,
              limit: int) -> tuple[list[Order], dict[str, Any] | None]:
    return store.index_page("by_shop_day", "GSI2PK", f"SHOP#{shop_id}#{day}", start, limit)


def orders_of_day(shop_id: str, day: str, cursor: str | None) -> tuple[list[Order], str | None]:
    listing = f"merchant-orders/{day}"
    start = paging.decode(cursor, listing=listing, caller=shop_id, allowed_keys={"PK", "SK", "GSI2PK", "GSI2SK"})
    orders, last = _day_page(shop_id, day, start, PAGE_SIZE)
    return orders, paging.encode(last, listing=listing, caller=shop_id)


def sales_of_day(shop_id: str, day: str) -> dict[str, Any]:
    by_status: dict[str, int] = {}
    gross = refunded = units = 0
    seen = 0
    start: dict[str, Any] | None = None
    while True:
        orders, start = _day_page(shop_id, day, start, 100)
        for order in orders:
            seen += 1
            by_status[order.status.value] = by_status.get(order.status.value, 0) + 1
            payment = order.payment or {}
            if payment.get("state") in ("paid", "partially_refunded", "refunded"):
                gross += payment.get("amount_fen", 0)
                refunded += payment.get("refunded_fen", 0)
                units += sum(line["quantity"] for line in order.items)
        if not start or seen >= SALES_SCAN_LIMIT:
            break
    return {"day": day, "orders": seen, "orders_by_status": by_status, "paid_units": units,
            "gross_fen": gross, "refunded_fen": refunded, "net_fen": gross - refunded, "currency": "CNY",
            "partial": bool(start)}
