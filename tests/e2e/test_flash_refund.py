"""Issue 13 item 3 over HTTP against the local stack: a flash refund (闪电退款). A digital order whose provider
is down sits in FULFILLING with nothing delivered; the shopper's refund_only case is approved and refunded as it
opens, without a person, and the order's ledger shows the grant settled. The deliver step's next retry finds the
line refunded and sends nothing: the order fails without refunding a fen more than was captured."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.test_order_journey import Api, new_sku, wait_for_status
from tests.e2e.test_paid_journeys import FINAL, pay, place

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

DOWN = "https://shop.example.com/s/flash#down"  # the sandbox digital provider never answers this target


def case_until(api: Api, token: str, case_id: str, wanted: str, timeout_s: float = 10) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    case: dict[str, Any] = api("GET", f"/after-sales/{case_id}", token=token).json()
    while case["status"] != wanted and time.monotonic() < deadline:
        time.sleep(0.2)
        case = api("GET", f"/after-sales/{case_id}", token=token).json()
    return case


def test_a_refund_only_case_on_an_undelivered_digital_order_is_refunded_at_once(
    api: Api, token_for: Callable[..., str]
) -> None:
    shopper = token_for("shopper")
    sku = new_sku(api, token_for, stock=3)
    order_id = place(api, shopper, sku, target=DOWN)
    pay(api, shopper, order_id, "wechatpay")
    assert wait_for_status(api, shopper, order_id, {"FULFILLING"} | FINAL)["status"] == "FULFILLING"

    key = str(uuid.uuid4())
    body = {"type": "refund_only", "lines": [{"sku": sku, "quantity": 1}], "reason_code": "digital_not_delivered"}
    started = time.monotonic()
    reply = api("POST", f"/orders/{order_id}/after-sales", token=shopper, headers={"Idempotency-Key": key},
                json=body)
    assert reply.status_code == 201, reply.text
    opened = reply.json()
    assert opened["flash"]["eligible"] is True and opened["flash"]["rule"] == "digital_undelivered"
    case = case_until(api, shopper, opened["case_id"], "REFUNDED")
    took = time.monotonic() - started
    assert case["status"] == "REFUNDED" and took < 10, (case, took)  # the seed promises within the hour
    assert [(e["to_status"], e["actor"]) for e in case["history"]] == [
        ("REQUESTED", case["history"][0]["actor"]), ("REFUNDING", "system:flash"), ("REFUNDED", "system:refunds")]
    assert case["history"][1]["reason"] == "flash_refund:digital_undelivered"

    order = api("GET", f"/orders/{order_id}", token=shopper).json()
    grants = {k: v for k, v in order["payment"]["refunds"].items() if k.startswith("as-")}
    assert len(grants) == 1
    (grant_key, grant), = grants.items()
    assert grant["state"] == "succeeded" and grant["amount_fen"] == order["total_fen"]
    assert grant["out_refund_no"] == f"{order_id}-{grant_key}"

    again = api("POST", f"/orders/{order_id}/after-sales", token=shopper, headers={"Idempotency-Key": key},
                json=body)  # a retry: the same case, decided and refunded once
    assert again.status_code == 201 and again.json()["case_id"] == case["case_id"]
    assert again.json()["flash"] == case["flash"]

    # the deliver step's next retry finds the line refunded: nothing sent, the order fails, nothing more refunded
    final = wait_for_status(api, shopper, order_id, FINAL, timeout_s=90)
    assert final["status"] == "FAILED", final["status"]
    assert final["payment"]["refunded_fen"] == final["payment"]["amount_fen"] == final["total_fen"]
