"""A shopper cancels an order before paying; cancelling again answers 409 with the current status.

    python -m examples.cancel_order [BASE_URL]
"""

from __future__ import annotations

from typing import Any

from examples.client import connect, show, step


def main(argv: list[str] | None = None) -> dict[str, Any]:
    api = connect(__doc__ or "", argv)
    shopper = api.login("shopper1")

    step("Place an order and wait until it can be paid")
    order_id = api.place_order(shopper, {"items": [{"sku": "PROMO-OFFICIAL-GROWTH", "quantity": 2}],
                                         "target": "https://shop.example.com/store/42"})
    api.wait_for_status(shopper, order_id, {"AWAITING_PAYMENT"})

    step("Cancel it: POST /orders/{id}/cancel (the reserved stock goes back)")
    cancelled = api.call("POST", f"/orders/{order_id}/cancel", shopper)
    show("now", {"status": cancelled["status"], "status_reason": cancelled["status_reason"]})

    step("Cancel again: 409 problem+json with the current status")
    conflict = api.call("POST", f"/orders/{order_id}/cancel", shopper, expect=(409,))
    show("problem", {key: conflict.get(key) for key in ("status", "code", "current_status")})
    return {"order_id": order_id, "cancelled": cancelled, "conflict": conflict}


if __name__ == "__main__":
    main()
