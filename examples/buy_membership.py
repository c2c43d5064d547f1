"""A shopper buys a membership; order24 delivers it on its own entitlements ledger (no `target` needed).

    python -m examples.buy_membership [BASE_URL]
"""

from __future__ import annotations

from typing import Any

from examples.client import connect, show, step


def main(argv: list[str] | None = None) -> dict[str, Any]:
    api = connect(__doc__ or "", argv)
    shopper = api.login("shopper2")

    step("Order a month of Pro membership and pay with Alipay (the local sandbox provider)")
    order_id = api.place_order(shopper, {"items": [{"sku": "MEMBER-PRO-MONTH", "quantity": 1}]})
    api.wait_for_status(shopper, order_id, {"AWAITING_PAYMENT"})
    intent = api.pay_in_sandbox(shopper, order_id, "alipay")
    show("Alipay QR code", intent["params"]["qr_code"])
    order = api.wait_for_status(shopper, order_id, {"COMPLETED"})

    step("Your membership, credit balance and ledger: GET /me/entitlements")
    entitlements = api.call("GET", "/me/entitlements", shopper)
    show("membership", entitlements["membership"])
    show("credits", entitlements["credits"])
    for entry in entitlements["entries"][:3]:
        print(f"    {entry['at']}  {entry['action']:<6} {entry['amount']:>9} {entry['unit']:<8} {entry['sku']}")
    return {"order_id": order_id, "order": order, "entitlements": entitlements}


if __name__ == "__main__":
    main()
