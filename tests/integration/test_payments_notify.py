"""Provider callbacks through the real payment_notify handler, for WeChat Pay v3 and Alipay, against moto.

Every test asserts the exact answer the provider expects: WeChat 204 with an empty body, or 4xx/5xx
{"code":"FAIL",...}; Alipay exactly `success`, or `failure`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import time_machine

from functions.api_orders.handler import handler as orders_handler
from functions.pay.handler import handler as pay_handler
from functions.sweeper.handler import handler as sweeper_handler
from shared.catalog import store as catalog
from shared.core import ddb
from shared.core.aws import sqs
from shared.core.clock import now
from shared.orders import store
from shared.sandbox.payments import SandboxHttpClient
from tests.integration.test_catalog_and_intake import AD_SLOT
from tests.integration.test_payments_helpers import (
    alipay_form,
    awaiting_order,
    forger_keys,
    install_payments,
    post_alipay,
    post_wechat,
    wechat_config,
    wechat_notification,
    wechat_refund_notification,
)
from tests.support import SHOPPER, call, context

AMOUNT = 9900


@pytest.fixture
def payments(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, dict[str, Any]]]:
    yield from install_payments(monkeypatch)


def intent(order_id: str, provider: str) -> None:
    status, body, _ = call(
        pay_handler, "POST", f"/orders/{order_id}/pay", user=SHOPPER, body={"provider": provider}
    )
    assert status == 200, body


def paid_events(order_id: str) -> int:
    return sum(1 for e in store.require(order_id).events if getattr(e, "to_status", None) == "PAID")


def paid_messages() -> int:
    import os

    attributes = sqs().get_queue_attributes(
        QueueUrl=os.environ["PAID_QUEUE_URL"], AttributeNames=["ApproximateNumberOfMessages"]
    )
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


def assert_wechat_ok(reply: tuple[int, Any, dict[str, str]]) -> None:
    assert reply[0] == 204 and reply[1] is None, reply


def assert_wechat_fail(reply: tuple[int, Any, dict[str, str]], status: int, message: str) -> None:
    assert reply[0] == status and reply[1] == {"code": "FAIL", "message": message}, reply


def assert_alipay(reply: tuple[int, Any, dict[str, str]], answer: str) -> None:
    assert reply[1] == answer and reply[2]["Content-Type"].startswith("text/plain"), reply
    assert (reply[0] == 200) == (answer == "success")


def unchanged(order_id: str, before: dict[str, Any]) -> None:
    assert store.require(order_id) == before


# ------------------------------------------------------------------ success, replay, duplicate


def test_wechatpay_success_pays_once_and_enqueues(payments: dict[str, Any]) -> None:
    order_id = awaiting_order()
    intent(order_id, "wechatpay")
    assert_wechat_ok(post_wechat(*wechat_notification(order_id, AMOUNT)))
    order = store.require(order_id)
    assert order.status == "PAID" and order.gsi3pk.startswith("DUE#PAID#")
    assert {
        k: order.payment[k]
        for k in (
            "provider",
            "out_trade_no",
            "transaction_id",
            "amount_fen",
            "currency",
            "state",
            "refunded_fen",
            "refunds",
        )
    } == {
        "provider": "wechatpay",
        "out_trade_no": order_id,
        "transaction_id": "4200000000202401010000000001",
        "amount_fen": AMOUNT,
        "currency": "CNY",
        "state": "paid",
        "refunded_fen": 0,
        "refunds": {},
    }
    assert paid_messages() == 1


def test_alipay_success_pays_once_and_enqueues(payments: dict[str, Any]) -> None:
    order_id = awaiting_order()
    intent(order_id, "alipay")
    assert_alipay(post_alipay(alipay_form(order_id, AMOUNT)), "success")
    order = store.require(order_id)
    assert order.status == "PAID" and order.payment["transaction_id"] == "2024010122001400000001"
    assert order.payment["provider"] == "alipay" and paid_messages() == 1


def test_same_wechatpay_notification_ten_times_is_one_payment(payments: dict[str, Any]) -> None:
    order_id = awaiting_order()
    intent(order_id, "wechatpay")
    headers, body = wechat_notification(order_id, AMOUNT, event_id="EV-REPLAY")
    for _ in range(10):
        assert_wechat_ok(post_wechat(headers, body))
    assert paid_events(order_id) == 1 and paid_messages() == 1


def test_same_alipay_notification_ten_times_is_one_payment(payments: dict[str, Any]) -> None:
    order_id = awaiting_order()
    intent(order_id, "alipay")
    form = alipay_form(order_id, AMOUNT)
    for _ in range(10):
        assert_alipay(post_alipay(form), "success")
    assert paid_events(order_id) == 1 and paid_messages() == 1


def test_duplicate_with_a_new_event_id_changes_nothing(payments: dict[str, Any]) -> None:
    order_id = awaiting_order()
    intent(order_id, "wechatpay")
    assert_wechat_ok(post_wechat(*wechat_notification(order_id, AMOUNT, event_id="EV-1")))
    before = store.require(order_id)
    assert_wechat_ok(post_wechat(*wechat_notification(order_id, AMOUNT, event_id="EV-2")))
    unchanged(order_id, before)


def test_a_capture_by_another_provider_after_paid_is_recorded_and_refunded_once(
    payments: dict[str, Any],
) -> None:
    order_id = awaiting_order()
    assert_wechat_ok(post_wechat(*wechat_notification(order_id, AMOUNT)))
    form = alipay_form(order_id, AMOUNT)
    for _ in range(2):
        assert_alipay(post_alipay(form), "success")  # the money is real: acknowledge it, refund it
    order = store.require(order_id)
    assert order.status == "PAID" and order.payment["provider"] == "wechatpay"
    duplicate = order.duplicate_captures["alipay-1"]
    assert duplicate["transaction_id"] == "2024010122001400000001" and duplicate["state"] == "refunded"
    assert [r["state"] for r in duplicate["refunds"].values()] == ["succeeded"]
    assert SandboxHttpClient.calls.count(("alipay.refund", f"{order_id}-duplicate-alipay-1")) == 1
    assert inbox("refund_issue") == []


# ------------------------------------------------------------------ forged, tampered, stale, wrong


def test_forged_wechatpay_notification_is_rejected(payments: dict[str, Any]) -> None:
    order_id = awaiting_order()
    before = store.require(order_id)
    headers, body = wechat_notification(order_id, AMOUNT, keys=forger_keys(), config=wechat_config())
    assert_wechat_fail(post_wechat(headers, body), 401, "bad_signature")
    unchanged(order_id, before)


def test_tampered_wechatpay_body_is_rejected(payments: dict[str, Any]) -> None:
    order_id = awaiting_order()
    before = store.require(order_id)
    headers, body = wechat_notification(order_id, AMOUNT)
    tampered = body.replace(b'"summary":"', b'"summary":"x')
    assert_wechat_fail(post_wechat(headers, tampered), 401, "bad_signature")
    unchanged(order_id, before)


def test_wechatpay_resource_encrypted_with_another_key_is_rejected(payments: dict[str, Any]) -> None:
    order_id = awaiting_order()
    before = store.require(order_id)
    other = wechat_config(forger_keys())
    headers, body = wechat_notification(
        order_id, AMOUNT, config=other.model_copy(update={"mchid": other.mchid})
    )
    assert_wechat_fail(post_wechat(headers, body), 401, "decrypt_failed")
    unchanged(order_id, before)


def test_stale_wechatpay_notification_is_rejected(payments: dict[str, Any]) -> None:
    order_id = awaiting_order()
    before = store.require(order_id)
    headers, body = wechat_notification(order_id, AMOUNT, at=now() - timedelta(minutes=6))
    assert_wechat_fail(post_wechat(headers, body), 401, "stale_timestamp")
    unchanged(order_id, before)


def test_wechatpay_wrong_amount_is_rejected(payments: dict[str, Any]) -> None:
    order_id = awaiting_order()
    before = store.require(order_id)
    assert_wechat_fail(post_wechat(*wechat_notification(order_id, AMOUNT - 1)), 400, "wrong_amount")
    unchanged(order_id, before)


def test_wechatpay_wrong_merchant_and_wrong_app_are_rejected(payments: dict[str, Any]) -> None:
    order_id = awaiting_order()
    before = store.require(order_id)
    assert_wechat_fail(
        post_wechat(*wechat_notification(order_id, AMOUNT, mchid="1900000999")), 403, "wrong_merchant"
    )
    other_app = wechat_config().model_copy(update={"appid": "wx0000000000000000"})
    assert_wechat_fail(
        post_wechat(*wechat_notification(order_id, AMOUNT, config=other_app)), 403, "wrong_merchant"
    )
    unchanged(order_id, before)


def test_forged_alipay_notification_is_rejected(payments: dict[str, Any]) -> None:
    order_id = awaiting_order()
    before = store.require(order_id)
    assert_alipay(post_alipay(alipay_form(order_id, AMOUNT, keys=forger_keys())), "failure")
    unchanged(order_id, before)


def test_tampered_alipay_amount_is_rejected(payments: dict[str, Any]) -> None:
    order_id = awaiting_order()
    before = store.require(order_id)
    form = alipay_form(order_id, 1)
    form["total_amount"] = "99.00"  # signed for 0.01, shown as the full price
    assert_alipay(post_alipay(form), "failure")
    unchanged(order_id, before)


def test_stale_alipay_notification_is_rejected(payments: dict[str, Any]) -> None:
    order_id = awaiting_order()
    before = store.require(order_id)
    assert_alipay(post_alipay(alipay_form(order_id, AMOUNT, at=now() - timedelta(hours=26))), "failure")
    unchanged(order_id, before)


def test_alipay_retry_within_25_hours_is_accepted(payments: dict[str, Any]) -> None:
    order_id = awaiting_order()
    with time_machine.travel(now() - timedelta(hours=24), tick=False):
        form = alipay_form(order_id, AMOUNT)
    assert_alipay(post_alipay(form), "success")
    assert store.require(order_id).status == "PAID"


def test_alipay_wrong_amount_is_rejected(payments: dict[str, Any]) -> None:
    order_id = awaiting_order()
    before = store.require(order_id)
    assert_alipay(post_alipay(alipay_form(order_id, AMOUNT + 100)), "failure")
    unchanged(order_id, before)


def test_alipay_wrong_app_or_seller_is_rejected(payments: dict[str, Any]) -> None:
    order_id = awaiting_order()
    before = store.require(order_id)
    assert_alipay(post_alipay(alipay_form(order_id, AMOUNT, app_id="2021000000009999")), "failure")
    assert_alipay(post_alipay(alipay_form(order_id, AMOUNT, seller_id="2088000000009999")), "failure")
    unchanged(order_id, before)


# ------------------------------------------------------------------ out of order


def test_wechatpay_closed_after_success_never_unpays(payments: dict[str, Any]) -> None:
    order_id = awaiting_order()
    assert_wechat_ok(post_wechat(*wechat_notification(order_id, AMOUNT)))
    before = store.require(order_id)
    for state in ("CLOSED", "NOTPAY", "PAYERROR"):
        assert_wechat_ok(post_wechat(*wechat_notification(order_id, AMOUNT, state=state)))
    unchanged(order_id, before)


def test_alipay_trade_closed_after_success_never_unpays(payments: dict[str, Any]) -> None:
    order_id = awaiting_order()
    assert_alipay(post_alipay(alipay_form(order_id, AMOUNT)), "success")
    before = store.require(order_id)
    assert_alipay(post_alipay(alipay_form(order_id, AMOUNT, status="TRADE_CLOSED")), "success")
    unchanged(order_id, before)


def test_wechatpay_success_after_a_failure_pays(payments: dict[str, Any]) -> None:
    order_id = awaiting_order()
    failure = wechat_notification(order_id, AMOUNT, state="PAYERROR", event_id="EV-FAIL")
    assert_wechat_ok(post_wechat(*failure))
    assert_wechat_ok(post_wechat(*failure))
    order = store.require(order_id)
    assert (
        order.status == "AWAITING_PAYMENT"
        and "WeChat Pay could not complete" in order.last_payment_error
    )
    assert [e.type for e in order.events].count("payment_failed") == 1
    assert_wechat_ok(post_wechat(*wechat_notification(order_id, AMOUNT)))
    order = store.require(order_id)
    assert order.status == "PAID" and not order.has("last_payment_error")


def test_alipay_success_after_trade_closed_pays(payments: dict[str, Any]) -> None:
    order_id = awaiting_order()
    assert_alipay(post_alipay(alipay_form(order_id, AMOUNT, status="TRADE_CLOSED")), "success")
    assert "closed the trade" in store.require(order_id).last_payment_error
    assert_alipay(post_alipay(alipay_form(order_id, AMOUNT)), "success")
    assert store.require(order_id).status == "PAID"


# ------------------------------------------------------------------ unknown orders


def inbox(kind: str) -> list[dict[str, Any]]:
    reply = ddb.dynamodb().query(
        TableName=ddb.table(),
        KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues=ddb.values(pk=f"INBOX#{kind}"),
    )
    return [ddb.from_item(item) for item in reply["Items"]]


def test_wechatpay_payment_for_an_unknown_order_is_stored_and_acknowledged(payments: dict[str, Any]) -> None:
    headers, body = wechat_notification("onosuchorder000000000000000", AMOUNT)
    assert_wechat_ok(post_wechat(headers, body))
    assert_wechat_ok(post_wechat(headers, body))
    stored = inbox("unmatched_payment")
    assert len(stored) == 1 and "onosuchorder000000000000000" in stored[0]["summary"]


def test_alipay_payment_for_an_unknown_order_is_stored_and_acknowledged(payments: dict[str, Any]) -> None:
    assert_alipay(post_alipay(alipay_form("onosuchorder000000000000000", AMOUNT)), "success")
    stored = inbox("unmatched_payment")
    assert (
        len(stored) == 1 and json.loads(stored[0]["payload"])["out_trade_no"] == "onosuchorder000000000000000"
    )


# ------------------------------------------------------------------ paid after cancel / expiry


def refund_calls() -> int:
    return sum(1 for api, _ in SandboxHttpClient.calls if api.endswith(".refund"))


@pytest.mark.parametrize("provider", ["wechatpay", "alipay"])
def test_payment_after_shopper_cancel_is_recorded_and_refunded_exactly_once(
    payments: dict[str, Any], provider: str
) -> None:
    order_id = awaiting_order()
    intent(order_id, provider)
    call(orders_handler, "POST", f"/orders/{order_id}/cancel", user=SHOPPER)
    if provider == "wechatpay":
        notification = wechat_notification(order_id, AMOUNT, event_id="EV-LATE")
        for _ in range(3):
            assert_wechat_ok(post_wechat(*notification))
    else:
        form = alipay_form(order_id, AMOUNT)
        for _ in range(3):
            assert_alipay(post_alipay(form), "success")
    order = store.require(order_id)
    assert order.status == "CANCELLED"
    assert order.payment["state"] == "refunded" and order.payment["refunded_fen"] == AMOUNT
    assert order.payment["refunds"]["paid-after-cancel"]["state"] == "succeeded"
    types = [e.type for e in order.events]
    assert types.count("paid_after_cancel") == 1 and types.count("refunded") == 1
    assert refund_calls() == 1 and paid_messages() == 0


def test_payment_after_expiry_is_recorded_and_refunded(
    payments: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAYMENT_TIMEOUT_SECONDS", "60")
    order_id = awaiting_order(quantity=2)
    intent(order_id, "alipay")
    with time_machine.travel(now() + timedelta(seconds=61), tick=False):
        assert sweeper_handler({}, context("sweeper")).get("expiry_expired") == 1
    assert catalog.available(str(AD_SLOT["sku"])) == 20
    assert_alipay(post_alipay(alipay_form(order_id, 2 * AMOUNT)), "success")
    order = store.require(order_id)
    assert order.status == "CANCELLED" and order.status_reason == "payment_timeout"
    assert order.payment["refunds"]["paid-after-cancel"]["amount_fen"] == 2 * AMOUNT
    assert order.payment["state"] == "refunded" and refund_calls() == 1


def test_payment_racing_expiry_never_both_cancels_and_keeps_the_money(
    payments: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whichever conditional write wins, the order ends PAID (kept) or CANCELLED and refunded, never both."""
    from concurrent.futures import ThreadPoolExecutor

    from shared.orders import lifecycle

    monkeypatch.setenv("PAYMENT_TIMEOUT_SECONDS", "1")
    outcomes = []
    for n in range(6):
        order_id = awaiting_order(key=f"race-{n:08d}")
        stale = store.require(order_id, consistent=True)  # what the sweeper read before the payment landed
        later = now() + timedelta(seconds=5)
        with ThreadPoolExecutor(max_workers=2) as pool:
            expiry = pool.submit(lifecycle.expire_unpaid, stale, later)
            notify = pool.submit(post_alipay, alipay_form(order_id, AMOUNT, trade_no=f"2024race{n:016d}"))
            assert_alipay(notify.result(), "success")
            expiry.result()
        order = store.require(order_id)
        refunded = order.payment["refunded_fen"]
        assert (order.status, refunded) in (("PAID", 0), ("CANCELLED", AMOUNT)), order.status
        outcomes.append(order.status)
    assert set(outcomes) <= {"PAID", "CANCELLED"}


# ------------------------------------------------------------------ refund notifications


def test_wechatpay_refund_notification_settles_a_pending_refund_once(payments: dict[str, Any]) -> None:
    from shared.payments import store as payments_store

    order_id = awaiting_order()
    assert_wechat_ok(post_wechat(*wechat_notification(order_id, AMOUNT)))
    order = store.require(order_id)
    record = {
        "amount_fen": 500,
        "reason": "goodwill",
        "state": "requested",
        "out_refund_no": f"{order_id}-gw",
        "at": order.updated_at,
    }
    payments_store.reserve_refund(order, "gw", record, actor="ops:1", reason="goodwill")
    payments_store.mark_refund_accepted(order_id, "gw", "50300000000000000001")  # WeChat said PROCESSING
    notification = wechat_refund_notification(order_id, f"{order_id}-gw", 500, AMOUNT, event_id="EV-R1")
    for _ in range(3):
        assert_wechat_ok(post_wechat(*notification))
    order = store.require(order_id)
    assert order.payment["refunds"]["gw"]["state"] == "succeeded"
    assert order.payment["refunded_fen"] == 500 and order.payment["state"] == "partially_refunded"
    assert [e.type for e in order.events].count("refunded") == 1


def test_alipay_refund_notification_for_a_settled_refund_changes_nothing(payments: dict[str, Any]) -> None:
    from shared.payments import refunds

    order_id = awaiting_order()
    assert_alipay(post_alipay(alipay_form(order_id, AMOUNT)), "success")
    refunds.refund(store.require(order_id), 1000, refund_key="part", reason="x", actor="ops:1")
    before = store.require(order_id)
    form = alipay_form(order_id, AMOUNT, refund_fen=1000, out_biz_no=f"{order_id}-part")
    assert_alipay(post_alipay(form), "success")
    unchanged(order_id, before)
