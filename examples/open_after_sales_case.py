"""A shopper opens an after-sales case on a shipped order: the reason catalogue, the case, a retry, the reads.

    python -m examples.open_after_sales_case [BASE_URL]

Only orders whose fulfilment has started take a case; before that, POST /orders/{id}/cancel is the way out
(409 `cancel_instead` with `next: "cancel"`). Units can never be claimed twice: 409 `quantity_exceeded`.
"""

from __future__ import annotations

import uuid
from typing import Any

from examples.client import connect, show, step, wait_until

ADDRESS = {"recipient": "张三", "phone": "13800000000", "province": "浙江", "city": "杭州", "line": "西湖区文三路 1 号"}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    api = connect(__doc__ or "", argv)
    shopper = api.login("shopper1")

    step("Order two cakes of tea, pay, and wait until the parcel has left: SHIPPED")
    order_id = api.place_paid_order(shopper, {"items": [{"sku": "TEA-PUER-357G", "quantity": 2}],
                                              "shipping_address": ADDRESS})
    api.wait_for_status(shopper, order_id, {"SHIPPED"})

    step("The reasons a case may give (public): GET /after-sales/reasons")
    reasons = api.call("GET", "/after-sales/reasons")["reasons"]
    for reason in reasons:
        print(f"    {reason['code']:<22} {reason['labels']['zh-CN']} / {reason['labels']['en']}  {reason['types']}")

    step("Ask for one cake's money back: POST /orders/{id}/after-sales (Idempotency-Key required)")
    body = {"type": "refund_only", "lines": [{"sku": "TEA-PUER-357G", "quantity": 1}],
            "reason_code": "damaged", "note": "包装破损"}
    key = {"Idempotency-Key": str(uuid.uuid4())}
    case = api.call("POST", f"/orders/{order_id}/after-sales", shopper, body=body, headers=key, expect=(201,))
    show("case", {k: case[k] for k in ("case_id", "status", "refund_total_fen")})

    step("A retry with the same key is the same case")
    retried = api.call("POST", f"/orders/{order_id}/after-sales", shopper, body=body, headers=key, expect=(201,))
    show("same case", retried["case_id"] == case["case_id"])

    step("Two more units than are left: 409 quantity_exceeded")
    too_many = api.call("POST", f"/orders/{order_id}/after-sales", shopper, expect=(409,),
                        body={**body, "lines": [{"sku": "TEA-PUER-357G", "quantity": 2}]},
                        headers={"Idempotency-Key": str(uuid.uuid4())})
    show("problem", {k: too_many.get(k) for k in ("status", "code", "claimable")})

    step("Read it back: the case with its history, the order's cases, and mine")
    one = api.call("GET", f"/after-sales/{case['case_id']}", shopper)
    for event in one["history"]:
        print(f"    {event['at']}  {event['type']:<15} -> {event['to_status']}  by {event['actor']}")
    on_order = api.call("GET", f"/orders/{order_id}/after-sales", shopper)["items"]
    mine = api.call("GET", "/me/after-sales", shopper)["items"]

    step("The shopper is told: GET /me/notifications")
    notes = wait_until(lambda: api.call("GET", "/me/notifications", shopper)["items"],
                       lambda items: any(n.get("case_id") == case["case_id"] for n in items))
    told = [n for n in notes if n.get("case_id") == case["case_id"]]
    show("notification", [(n["type"], n["title"]) for n in told])
    return {"order_id": order_id, "reasons": reasons, "case": case, "retried": retried, "too_many": too_many,
            "one": one, "on_order": on_order, "mine": mine, "told": told}


if __name__ == "__main__":
    main()
