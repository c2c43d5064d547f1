"""Issues 3-5 as a new user tries them with `make run`: pay, review, deliver, ship, track, be notified."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import requests

from tests.e2e.test_order_journey import Api, new_sku, wait_for_status

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

ADDRESS = {"recipient": "张三", "phone": "13800000000", "province": "浙江", "city": "杭州", "line": "西湖区文三路 1 号"}
FINAL = {"COMPLETED", "CANCELLED", "REJECTED", "FAILED"}


def place(api: Api, token: str, sku: str, **body: Any) -> str:
    reply = api("POST", "/orders", token=token, headers={"Idempotency-Key": str(uuid.uuid4())},
                json={"items": [{"sku": sku, "quantity": 1}], **body})
    assert reply.status_code == 202, reply.text
    order_id: str = reply.json()["order_id"]
    assert wait_for_status(api, token, order_id, {"AWAITING_PAYMENT"} | FINAL)["status"] == "AWAITING_PAYMENT"
    return order_id


def pay(api: Api, token: str, order_id: str, provider: str = "wechatpay") -> dict[str, Any]:
    intent = api("POST", f"/orders/{order_id}/pay", token=token, json={"provider": provider})
    assert intent.status_code in (200, 201), intent.text
    posted = api("POST", f"/sandbox/pay/{order_id}?provider={provider}&outcome=success")
    assert posted.status_code == 200, posted.text
    result: dict[str, Any] = posted.json()
    return result


def event_types(api: Api, token: str, order_id: str) -> list[tuple[str, str | None]]:
    events = api("GET", f"/orders/{order_id}/events", token=token).json()["events"]
    return [(e["type"], e.get("to_status")) for e in events]


def seen_statuses(api: Api, token: str, order_id: str) -> list[str]:
    return [to for kind, to in event_types(api, token, order_id) if to]


@pytest.mark.parametrize("provider", ["wechatpay", "alipay"])
def test_paying_through_the_sandbox_reaches_paid_within_3_seconds_and_completes_digital(
    api: Api, token_for: Callable[..., str], provider: str
) -> None:
    shopper = token_for("shopper")
    order_id = place(api, shopper, new_sku(api, token_for, stock=3), target="https://shop.example.com/s/9")
    started = time.monotonic()
    result = pay(api, shopper, order_id, provider)
    assert result["delivered_status"] in (200, 204)
    assert result["notify_response"] in ("", "success", None)
    order = wait_for_status(api, shopper, order_id, {"PAID", "FULFILLING", "DELIVERED", "COMPLETED", "IN_REVIEW"})
    assert time.monotonic() - started < 3
    assert order["payment"]["state"] == "paid" and order["payment"]["amount_fen"] == order["total_fen"]
    final = wait_for_status(api, shopper, order_id, FINAL | {"IN_REVIEW"}, timeout_s=20)
    assert final["status"] == "COMPLETED", final
    assert seen_statuses(api, shopper, order_id)[-4:] == ["PAID", "FULFILLING", "DELIVERED", "COMPLETED"]


def test_the_same_signed_notification_ten_times_makes_one_payment(api: Api, token_for: Callable[..., str],
                                                                 local_stack: dict[str, Any]) -> None:
    shopper = token_for("shopper")
    order_id = place(api, shopper, new_sku(api, token_for, stock=3), target="https://shop.example.com/s/10")
    notification = pay(api, shopper, order_id)["notification"]
    answers = [requests.post(local_stack["api_url"] + notification["path"], data=notification["body"].encode(),
                             headers=notification["headers"], timeout=10).status_code for _ in range(9)]
    assert set(answers) <= {200, 204}
    wait_for_status(api, shopper, order_id, FINAL | {"IN_REVIEW"}, timeout_s=20)
    assert [to for to in seen_statuses(api, shopper, order_id)].count("PAID") == 1
    order = api("GET", f"/orders/{order_id}", token=shopper).json()
    assert order["payment"]["refunded_fen"] == 0


def test_a_shopper_who_closes_the_wechat_qr_and_chooses_alipay_pays_with_alipay(
    api: Api, token_for: Callable[..., str]
) -> None:
    shopper = token_for("shopper")
    order_id = place(api, shopper, new_sku(api, token_for, stock=3), target="https://shop.example.com/s/13")
    first = api("POST", f"/orders/{order_id}/pay", token=shopper, json={"provider": "wechatpay"})
    assert first.status_code == 200 and first.json()["out_trade_no"] == order_id, first.text
    result = pay(api, shopper, order_id, "alipay")
    assert result["notify_response"] == "success"
    order = wait_for_status(api, shopper, order_id, FINAL | {"PAID", "FULFILLING", "DELIVERED", "IN_REVIEW"})
    assert order["payment"]["provider"] == "alipay" and order["payment"]["out_trade_no"] == f"{order_id}-2"
    kinds = [kind for kind, _ in event_types(api, shopper, order_id)]
    assert "payment_intent_superseded" in kinds and "payment_intent_closed" in kinds


def test_a_tampered_notification_is_refused_and_changes_nothing(api: Api, token_for: Callable[..., str],
                                                                local_stack: dict[str, Any]) -> None:
    shopper = token_for("shopper")
    order_id = place(api, shopper, new_sku(api, token_for, stock=3), target="https://shop.example.com/s/11")
    api("POST", f"/orders/{order_id}/pay", token=shopper, json={"provider": "alipay"})
    result = api("POST", f"/sandbox/pay/{order_id}?provider=alipay&outcome=fail").json()
    body = result["notification"]["body"].replace("total_amount=", "total_amount=1")
    reply = requests.post(local_stack["api_url"] + "/payments/alipay/notify", data=body.encode(),
                          headers=result["notification"]["headers"], timeout=10)
    assert reply.status_code >= 400 or reply.text != "success"
    order = api("GET", f"/orders/{order_id}", token=shopper).json()
    assert order["status"] == "AWAITING_PAYMENT" and order["last_payment_error"]


def test_unpaid_order_expires_and_its_stock_comes_back(api: Api, token_for: Callable[..., str]) -> None:
    shopper = token_for("shopper")
    sku = new_sku(api, token_for, stock=4)
    order_id = place(api, shopper, sku, target="https://shop.example.com/s/12")
    assert api("GET", f"/catalog/{sku}").json()["stock"] == 3
    order = wait_for_status(api, shopper, order_id, {"CANCELLED"}, timeout_s=150)  # PAYMENT_TIMEOUT_SECONDS=90
    assert order["status"] == "CANCELLED" and order["status_reason"] == "payment_timeout"
    assert api("GET", f"/catalog/{sku}").json()["stock"] == 4


def test_absolute_ad_terms_wait_for_a_reviewer_and_approval_moves_them_on(
    api: Api, token_for: Callable[..., str]
) -> None:
    shopper, reviewer = token_for("shopper"), token_for("reviewer")
    order_id = place(api, shopper, new_sku(api, token_for, stock=3), target="https://shop.example.com/s/13",
                     ad_copy="全网第一的茶叶旗舰店")
    pay(api, shopper, order_id)
    assert wait_for_status(api, shopper, order_id, {"IN_REVIEW"} | FINAL)["status"] == "IN_REVIEW"
    queue = api("GET", "/review/queue", token=reviewer).json()
    entry = next(item for item in queue["items"] if item["order_id"] == order_id)
    assert "【全网第一】" in entry["highlighted_copy"]
    assert api("POST", f"/review/{order_id}/claim", token=reviewer).status_code == 200
    assert api("POST", f"/review/{order_id}/approve", token=reviewer).status_code == 200
    assert wait_for_status(api, shopper, order_id, FINAL, timeout_s=20)["status"] == "COMPLETED"
    assert any(kind for kind, to in event_types(api, shopper, order_id) if to == "FULFILLING")


def test_a_reviewer_rejection_refunds_the_shopper_in_full(api: Api, token_for: Callable[..., str]) -> None:
    shopper, reviewer = token_for("shopper"), token_for("reviewer")
    order_id = place(api, shopper, new_sku(api, token_for, stock=3), target="https://shop.example.com/s/14",
                     ad_copy="国家级最佳推广")
    pay(api, shopper, order_id)
    assert wait_for_status(api, shopper, order_id, {"IN_REVIEW"} | FINAL)["status"] == "IN_REVIEW"
    api("POST", f"/review/{order_id}/claim", token=reviewer)
    reply = api("POST", f"/review/{order_id}/reject", token=reviewer, json={"reason": "绝对化用语，请修改文案"})
    assert reply.status_code == 200, reply.text
    order = wait_for_status(api, shopper, order_id, {"REJECTED"})
    assert order["status_reason"] == "绝对化用语，请修改文案"
    deadline = time.monotonic() + 10
    while order["payment"]["refunded_fen"] != order["total_fen"] and time.monotonic() < deadline:
        time.sleep(0.2)
        order = api("GET", f"/orders/{order_id}", token=shopper).json()
    assert order["payment"]["refunded_fen"] == order["total_fen"]
    assert api("POST", f"/review/{order_id}/approve", token=reviewer).status_code == 409


def test_physical_order_ships_is_tracked_and_notified_at_each_step(api: Api, token_for: Callable[..., str]) -> None:
    shopper = token_for("shopper")
    order_id = place(api, shopper, new_sku(api, token_for, stock=3, kind="physical"), shipping_address=ADDRESS)
    pay(api, shopper, order_id)
    assert wait_for_status(api, shopper, order_id, {"SHIPPED"} | FINAL, timeout_s=20)["status"] == "SHIPPED"
    shipped = api("POST", f"/sandbox/ship/{order_id}?to=delivered")
    assert shipped.status_code == 200, shipped.text
    assert wait_for_status(api, shopper, order_id, {"DELIVERED", "COMPLETED"})["status"] in ("DELIVERED", "COMPLETED")
    tracking = api("GET", f"/orders/{order_id}/tracking", token=shopper).json()
    assert tracking["carrier"] and tracking["tracking_number"]
    assert [t["state"] for t in tracking["traces"]][:1] == ["SIGNED"]  # newest first
    assert {"ACCEPTED", "IN_TRANSIT", "OUT_FOR_DELIVERY", "SIGNED"} <= {t["state"] for t in tracking["traces"]}
    assert all(t["context"] for t in tracking["traces"])
    deadline = time.monotonic() + 15
    kinds: set[str] = set()
    while time.monotonic() < deadline:
        items = api("GET", "/me/notifications", token=shopper).json()["items"]
        kinds = {n["type"] for n in items if n["order_id"] == order_id}
        if {"paid", "shipped", "out_for_delivery", "delivered"} <= kinds:
            break
        time.sleep(0.3)
    assert {"paid", "shipped", "out_for_delivery", "delivered"} <= kinds, kinds
