"""A shopper buys a digital service, pays with WeChat Pay (the local sandbox provider) and watches it complete.

    python -m examples.place_digital_order [BASE_URL]
"""

from __future__ import annotations

import uuid
from typing import Any

from examples.client import connect, show, step, wait_until


def main(argv: list[str] | None = None) -> dict[str, Any]:
    api = connect(__doc__ or "", argv)
    shopper = api.login("shopper1")

    step("Place the order: POST /orders with an Idempotency-Key")
    body = {"items": [{"sku": "PROMO-OFFICIAL-STARTER", "quantity": 1}],
            "target": "https://shop.example.com/store/42", "ad_copy": "新品上市，欢迎选购"}
    key = {"Idempotency-Key": str(uuid.uuid4())}
    accepted = api.call("POST", "/orders", shopper, body=body, headers=key, expect=(202,))
    order_id = accepted["order_id"]
    show("accepted", accepted)

    step("Retry the same request (same key, same body): the same order, not a second one")
    again = api.call("POST", "/orders", shopper, body=body, headers=key, expect=(202,))
    show("retried", again)

    step("Checkout runs in the background: PLACED -> AWAITING_PAYMENT")
    order = api.wait_for_status(shopper, order_id, {"AWAITING_PAYMENT"})
    show("to pay", {"total_fen": order["total_fen"], "expires_at": order["expires_at"]})

    step("Open the payment: POST /orders/{id}/pay")
    intent = api.call("POST", f"/orders/{order_id}/pay", shopper, body={"provider": "wechatpay"})
    show("show this QR code", intent["params"]["code_url"])

    step("The shopper pays; the sandbox provider posts WeChat Pay's signed callback: POST /sandbox/pay/{id}")
    api.call("POST", f"/sandbox/pay/{order_id}?provider=wechatpay&outcome=success")

    step("Paid, reviewed automatically, delivered, completed")
    order = api.wait_for_status(shopper, order_id, {"COMPLETED"})

    step("The timeline: GET /orders/{id}/events")
    events = api.call("GET", f"/orders/{order_id}/events", shopper)["events"]
    for event in events:
        print(f"    {event['at']}  {event['from_status'] or '':>16} -> {event['to_status'] or '':<16} {event['actor']}")

    step("Your orders, newest first (GET /orders) and your notifications (GET /me/notifications)")
    mine = api.call("GET", "/orders", shopper)["items"]
    show("latest", [(o["order_id"], o["status"]) for o in mine[:3]])
    # notifications are written just after each step: wait (a moment) for the last one, "delivered"
    notes = wait_until(lambda: [n for n in api.call("GET", "/me/notifications", shopper)["items"]
                                if n["order_id"] == order_id],
                       lambda found: any(n["type"] == "delivered" for n in found), timeout_s=10)
    show("notifications", [n["title"] for n in notes])
    return {"order_id": order_id, "retried": again, "intent": intent, "order": order, "events": events,
            "orders": mine, "notifications": notes}


if __name__ == "__main__":
    main()
