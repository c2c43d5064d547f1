"""Issue 13 item 8 over HTTP against the local stack: a paid order is cancelled and its payment ledger, read by
the owner, the shop's merchant and ops, ends refunded in full in integer fen, the refund settled the way each
sandbox provider settles it (WeChat Pay: PROCESSING, then its signed, encrypted REFUND.SUCCESS notification posted
to our notify endpoint; Alipay: code 10000 accepted, then confirmed by the refund query)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.test_order_journey import Api, new_sku, wait_for_status
from tests.e2e.test_paid_journeys import FINAL, pay, place

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]


def settled_ledger(api: Api, token: str, order_id: str, timeout_s: float = 15) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        reply = api("GET", f"/orders/{order_id}/ledger", token=token)
        assert reply.status_code == 200, reply.text
        sheet: dict[str, Any] = reply.json()
        if (sheet["refund_pending_fen"] == 0 and sheet["entries"]) or time.monotonic() > deadline:
            return sheet
        time.sleep(0.2)


@pytest.mark.parametrize("provider", ["wechatpay", "alipay"])
def test_the_ledger_after_a_cancel_when_paid_shows_the_whole_capture_refunded_once(
    api: Api, token_for: Callable[..., str], provider: str
) -> None:
    shopper = token_for("shopper")
    order_id = place(api, shopper, new_sku(api, token_for, stock=3), target="https://shop.example.com/s/81",
                     ad_copy="全网第一的推广位")
    pay(api, shopper, order_id, provider)
    assert wait_for_status(api, shopper, order_id, {"IN_REVIEW"} | FINAL)["status"] == "IN_REVIEW"
    before = api("GET", f"/orders/{order_id}/ledger", token=shopper).json()
    total = before["captured_fen"]
    assert total > 0 and before["entries"] == [] and before["net_kept_fen"] == total

    assert api("POST", f"/orders/{order_id}/cancel", token=shopper).status_code == 200
    sheet = settled_ledger(api, shopper, order_id)
    assert (sheet["captured_fen"], sheet["refunded_fen"], sheet["refund_pending_fen"], sheet["net_kept_fen"]) == (
        total, total, 0, 0)
    [entry] = sheet["entries"]
    assert (entry["kind"], entry["key"], entry["state"], entry["amount_fen"]) == ("refund", "cancel", "succeeded",
                                                                                  total)
    assert entry["out_refund_no"] == f"{order_id}-cancel" and entry["provider_ref"] and entry["case_id"] is None
    events = api("GET", f"/orders/{order_id}/events", token=shopper).json()["events"]
    refunded = [e for e in events if e["type"] == "refunded"]
    assert len(refunded) == 1
    if provider == "wechatpay":  # settled by the notification WeChat posted, not by the refund API's answer
        assert refunded[0]["actor"] == "provider:wechatpay" and entry["detail"] == "WeChat Pay refund SUCCESS"
    else:  # accepted by alipay.trade.refund, confirmed by alipay.trade.fastpay.refund.query
        assert entry["detail"] == "Alipay refund query: REFUND_SUCCESS"

    again = api("POST", f"/orders/{order_id}/cancel", token=shopper)  # a retry: the same single refund
    assert again.status_code == 200
    assert api("GET", f"/orders/{order_id}/ledger", token=shopper).json() == sheet
    for role in ("merchant", "ops"):
        assert api("GET", f"/orders/{order_id}/ledger", token=token_for(role)).json() == sheet
    other = api("GET", f"/orders/{order_id}/ledger", token=token_for("shopper2"))
    assert other.status_code == 404 and other.json()["code"] == "order_not_found"
    ops_view = api("GET", f"/ops/orders/{order_id}", token=token_for("ops")).json()
    assert ops_view["ledger"]["refunded_fen"] == total and ops_view["ledger"]["net_kept_fen"] == 0
