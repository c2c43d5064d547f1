"""Issue 13 item 1 over HTTP against the local stack: a paid order is cancelled and refunded in full by the
sandbox provider; once fulfilment started, cancel points to after-sales."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.test_order_journey import Api, new_sku, wait_for_status
from tests.e2e.test_paid_journeys import FINAL, pay, place

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]


def refunded(api: Api, token: str, order_id: str, timeout_s: float = 10) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    order: dict[str, Any] = api("GET", f"/orders/{order_id}", token=token).json()
    while order["payment"]["refunded_fen"] != order["total_fen"] and time.monotonic() < deadline:
        time.sleep(0.2)
        order = api("GET", f"/orders/{order_id}", token=token).json()
    return order


@pytest.mark.parametrize("provider", ["wechatpay", "alipay"])
def test_a_paid_order_waiting_for_review_is_cancelled_and_refunded_in_full(
    api: Api, token_for: Callable[..., str], provider: str
) -> None:
    shopper, reviewer = token_for("shopper"), token_for("reviewer")
    sku = new_sku(api, token_for, stock=3)
    order_id = place(api, shopper, sku, target="https://shop.example.com/s/31", ad_copy="全网第一的推广位")
    pay(api, shopper, order_id, provider)
    assert wait_for_status(api, shopper, order_id, {"IN_REVIEW"} | FINAL)["status"] == "IN_REVIEW"

    reply = api("POST", f"/orders/{order_id}/cancel", token=shopper)
    assert reply.status_code == 200, reply.text
    assert reply.json()["status"] == "CANCELLED"
    order = refunded(api, shopper, order_id)
    refund = order["payment"]["refunds"]["cancel"]
    assert refund["state"] == "succeeded" and refund["amount_fen"] == order["total_fen"]
    assert refund["out_refund_no"] == f"{order_id}-cancel"
    assert order["payment"]["amount_fen"] - order["payment"]["refunded_fen"] == 0
    assert api("GET", f"/catalog/{sku}").json()["stock"] == 3  # the unit is back on sale

    again = api("POST", f"/orders/{order_id}/cancel", token=shopper)  # a retry: same order, one refund
    assert again.status_code == 200 and again.json()["payment"]["refunded_fen"] == order["total_fen"]
    queue = api("GET", "/review/queue", token=reviewer).json()
    assert order_id not in [item["order_id"] for item in queue["items"]]
    assert api("POST", f"/review/{order_id}/claim", token=reviewer).status_code == 409


def test_a_completed_order_cannot_be_cancelled_and_points_to_after_sales(
    api: Api, token_for: Callable[..., str]
) -> None:
    shopper = token_for("shopper")
    order_id = place(api, shopper, new_sku(api, token_for, stock=3), target="https://shop.example.com/s/32")
    pay(api, shopper, order_id)
    assert wait_for_status(api, shopper, order_id, FINAL | {"IN_REVIEW"}, timeout_s=20)["status"] == "COMPLETED"
    reply = api("POST", f"/orders/{order_id}/cancel", token=shopper)
    assert reply.status_code == 409 and reply.headers["content-type"].startswith("application/problem+json")
    problem = reply.json()
    assert problem["code"] == "not_cancellable" and problem["next"] == "after_sales"
    assert problem["current_status"] == "COMPLETED"
