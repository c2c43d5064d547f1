"""Ops reads the inbox: callbacks nobody could match, parcels in trouble, rejected orders, refund issues.

    python -m examples.ops_inbox [BASE_URL]

To have something to look at, a parcel first runs into trouble: `POST /sandbox/ship/{id}?to=exception`
makes the sandbox courier report 疑难 (address unclear), which files a `trouble_flag`.
"""

from __future__ import annotations

from typing import Any

from examples.client import connect, show, step

KINDS = ("unmatched_payment", "unmatched_tracking", "trouble_flag", "risk_rejected", "refund_issue")
ADDRESS = {"recipient": "李四", "phone": "13900000000", "province": "江苏", "city": "南京", "line": "玄武区某路 9 号"}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    api = connect(__doc__ or "", argv)
    shopper, ops = api.login("shopper1"), api.login("ops1")

    step("A paid parcel that the courier cannot deliver")
    order_id = api.place_paid_order(shopper, {"items": [{"sku": "HOME-THERMOS-500ML", "quantity": 1}],
                                              "shipping_address": ADDRESS}, provider="alipay")
    api.wait_for_status(shopper, order_id, {"SHIPPED"})
    api.call("POST", f"/sandbox/ship/{order_id}?to=exception")

    step("Every inbox: GET /ops/inbox/{kind} (pages of 50, in reference order)")
    inbox: dict[str, list[dict[str, Any]]] = {}
    for kind in KINDS:
        entries, cursor = [], ""
        while True:
            page = api.call("GET", f"/ops/inbox/{kind}" + (f"?cursor={cursor}" if cursor else ""), ops)
            entries += page["items"]
            cursor = page["cursor"]
            if not cursor:
                break
        inbox[kind] = entries
        print(f"    {kind:<20} {len(entries)}")

    step("Our parcel's trouble flag")
    flag = next(entry for entry in inbox["trouble_flag"] if entry["ref"].startswith(order_id))
    show("flag", {key: flag[key] for key in ("ref", "at", "summary")})

    step("The whole order record, risk and review reasons included: GET /ops/orders/{id}")
    record = api.call("GET", f"/ops/orders/{order_id}", ops)
    show("order", {key: record.get(key) for key in ("status", "trouble", "risk")})
    return {"order_id": order_id, "inbox": inbox, "flag": flag, "record": record}


if __name__ == "__main__":
    main()
