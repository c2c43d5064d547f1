"""A merchant lists a new SKU, sets its stock and reprices it, then sees the day's orders and sales.

    python -m examples.merchant_shop [BASE_URL]
"""

from __future__ import annotations

import uuid
from typing import Any

from examples.client import connect, show, step


def main(argv: list[str] | None = None) -> dict[str, Any]:
    api = connect(__doc__ or "", argv)
    merchant, shopper = api.login("merchant1"), api.login("shopper2")
    sku = f"PROMO-EXAMPLE-{uuid.uuid4().hex[:8].upper()}"

    step(f"Create {sku} in your shop: POST /merchant/skus (201)")
    fields = {"title": "Weekend traffic boost", "category": "promotion", "kind": "digital",
              "price_fen": 2990, "currency": "CNY"}
    created = api.call("POST", "/merchant/skus", merchant, body={"sku": sku, **fields, "stock": 0}, expect=(201,))
    show("created", {key: created[key] for key in ("sku", "shop_id", "price_fen", "created_at")})

    step("Set the sellable units: PUT /merchant/skus/{sku}/stock")
    show("stock", api.call("PUT", f"/merchant/skus/{sku}/stock", merchant, body={"stock": 50}))

    step("Reprice it: PUT /merchant/skus/{sku} replaces the fields")
    repriced = api.call("PUT", f"/merchant/skus/{sku}", merchant, body={**fields, "price_fen": 1990})
    show("now", {key: repriced[key] for key in ("price_fen", "updated_at")})

    step("A shopper buys two and pays")
    order_id = api.place_paid_order(shopper, {"items": [{"sku": sku, "quantity": 2}],
                                              "target": "https://shop.example.com/store/7"})
    api.wait_for_status(shopper, order_id, {"COMPLETED"})

    step("Your shop's orders today, newest first: GET /merchant/orders")
    orders = api.call("GET", "/merchant/orders", merchant)
    mine = next(o for o in orders["items"] if o["order_id"] == order_id)
    show("the new order", {key: mine[key] for key in ("order_id", "status", "total_fen")})

    step("Your sales today: GET /merchant/sales")
    sales = api.call("GET", "/merchant/sales", merchant)
    show("sales", sales)
    stock = api.call("GET", f"/catalog/{sku}")["stock"]
    show("units left", stock)
    return {"sku": sku, "created": created, "repriced": repriced, "order_id": order_id, "order": mine,
            "sales": sales, "stock": stock}


if __name__ == "__main__":
    main()
