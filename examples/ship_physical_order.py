"""A physical order: paid, shipped from a warehouse, tracked through the courier's pushes, delivered.

    python -m examples.ship_physical_order [BASE_URL]

Locally, `POST /sandbox/ship/{id}?to=delivered` plays the courier: it posts signed Kuaidi100 pushes
(揽收 -> 在途 -> 派件 -> 签收) to our callback route, as Kuaidi100 would.
"""

from __future__ import annotations

from typing import Any

from examples.client import connect, show, step

ADDRESS = {"recipient": "张三", "phone": "13800000000", "province": "浙江", "city": "杭州", "line": "西湖区文三路 1 号"}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    api = connect(__doc__ or "", argv)
    shopper = api.login("shopper1")

    step("Order tea with a shipping address, and pay with WeChat Pay")
    order_id = api.place_paid_order(shopper, {"items": [{"sku": "TEA-PUER-357G", "quantity": 1}],
                                              "shipping_address": ADDRESS})

    step("A warehouse is picked and the parcel handed to a courier: SHIPPED")
    api.wait_for_status(shopper, order_id, {"SHIPPED"})

    step("The courier walks the parcel to the door: POST /sandbox/ship/{id}?to=delivered")
    api.call("POST", f"/sandbox/ship/{order_id}?to=delivered")
    order = api.wait_for_status(shopper, order_id, {"DELIVERED"})

    step("Where it has been, newest first: GET /orders/{id}/tracking")
    tracking = api.call("GET", f"/orders/{order_id}/tracking", shopper)
    show("parcel", {key: tracking[key] for key in ("carrier", "tracking_number", "state")})
    for trace in tracking["traces"]:
        print(f"    {trace['at']}  {trace['state'] or '':<18} {trace['context']}")
    return {"order_id": order_id, "order": order, "tracking": tracking}


if __name__ == "__main__":
    main()
