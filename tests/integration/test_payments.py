"""Paying an order: the intent, card data refusal, card capture, and refunds, against moto."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from functions.api_orders.handler import handler as orders_handler
from functions.pay.handler import handler as pay_handler
from shared.core import ddb
from shared.core.errors import Conflict
from shared.orders import store
from shared.payments import refunds
from shared.sandbox.payments import SandboxHttpClient
from tests.integration.test_payments_helpers import awaiting_order, install_payments
from tests.support import OTHER_SHOPPER, SHOPPER, call

PAN = "4111 1111 1111 1111"


@pytest.fixture
def payments(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, dict[str, Any]]]:
    yield from install_payments(monkeypatch)


def pay(
    order_id: str, body: dict[str, Any] | None = None, *, user: Any = SHOPPER, raw_body: str | None = None
) -> tuple[int, Any, dict[str, str]]:
    return call(pay_handler, "POST", f"/orders/{order_id}/pay", user=user, body=body, raw_body=raw_body)


def table_text() -> str:
    reply = ddb.dynamodb().scan(TableName=ddb.table())
    return json.dumps(reply["Items"], ensure_ascii=False)


def test_wechatpay_intent_carries_a_verified_code_url(payments: dict[str, Any]) -> None:
    order_id = awaiting_order()
    status, body, _ = pay(order_id, {"provider": "wechatpay"})
    assert status == 200, body
    assert body["out_trade_no"] == order_id and body["amount_fen"] == 9900 and body["currency"] == "CNY"
    assert body["provider"] == "wechatpay" and body["params"]["code_url"].startswith(
        "weixin://wxpay/bizpayurl?pr="
    )
    intent = store.require(order_id).payment_intent
    assert intent is not None
    assert intent["params"] == body["params"] and intent["out_trade_no"] == order_id


def test_alipay_intent_carries_qr_code_and_app_order_string(payments: dict[str, Any]) -> None:
    order_id = awaiting_order()
    status, body, _ = pay(order_id, {"provider": "alipay"})
    assert status == 200, body
    assert body["params"]["qr_code"].startswith("https://qr.alipay.com/")
    assert "method=alipay.trade.app.pay" in body["params"]["order_string"]
    assert "sign=" in body["params"]["order_string"]


def test_paying_twice_returns_the_same_intent_with_one_provider_call(payments: dict[str, Any]) -> None:
    order_id = awaiting_order()
    first = pay(order_id, {"provider": "wechatpay"})
    second = pay(order_id, {"provider": "wechatpay"})
    assert first[0] == second[0] == 200 and first[1] == second[1]
    assert SandboxHttpClient.calls.count(("wechatpay.prepay", order_id)) == 1
    events = [e.type for e in store.require(order_id).events]
    assert events.count("payment_intent_created") == 1


def test_another_provider_supersedes_the_abandoned_intent_and_closes_it(payments: dict[str, Any]) -> None:
    order_id = awaiting_order()
    pay(order_id, {"provider": "wechatpay"})
    status, body, _ = pay(order_id, {"provider": "alipay"})
    assert status == 200 and body["provider"] == "alipay"
    assert body["out_trade_no"] == f"{order_id}-2" and body["attempt"] == 2
    order = store.require(order_id)
    assert order.payment_intent["out_trade_no"] == f"{order_id}-2"
    [old] = order.payment_attempts
    assert old["provider"] == "wechatpay" and old["out_trade_no"] == order_id and old["outcome"] == "abandoned"
    assert old["superseded_by"] == f"{order_id}-2" and old["closed"] == "closed"
    assert ("wechatpay.close", order_id) in SandboxHttpClient.calls


def test_pay_by_another_shopper_is_404(payments: dict[str, Any]) -> None:
    order_id = awaiting_order()
    status, body, _ = pay(order_id, {"provider": "wechatpay"}, user=OTHER_SHOPPER)
    assert status == 404 and body["code"] == "order_not_found"
    assert "payment_intent" not in store.require(order_id)


def test_pay_on_an_order_that_is_not_awaiting_payment_is_409(payments: dict[str, Any]) -> None:
    order_id = awaiting_order()
    call(orders_handler, "POST", f"/orders/{order_id}/cancel", user=SHOPPER)
    status, body, _ = pay(order_id, {"provider": "alipay"})
    assert status == 409 and body["code"] == "order_not_payable" and body["current_status"] == "CANCELLED"


def test_extra_fields_in_the_pay_body_are_refused(payments: dict[str, Any]) -> None:
    order_id = awaiting_order()
    status, body, _ = pay(order_id, {"provider": "wechatpay", "coupon": "FREE"})
    assert status == 422 and body["code"] == "validation_failed"


@pytest.mark.parametrize(
    "body",
    [
        {"provider": "card", "card_token": "tok_visa", "card_number": "4111111111111111"},
        {"provider": "card", "card_token": "tok_visa", "note": PAN},
        {"provider": "card", "card_token": "tok_visa", "cvv": "123"},
        {"provider": "card", "card_token": "4111-1111-1111-1111"},
    ],
)
def test_card_data_anywhere_in_the_body_is_refused_and_never_stored(
    payments: dict[str, Any], body: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    order_id = awaiting_order()
    status, problem, _ = pay(order_id, body)
    assert status == 422 and problem["code"] == "card_data_refused"
    text = table_text()
    for shown in (json.dumps(problem), text, caplog.text):
        assert not any(pan in shown for pan in ("4111111111111111", PAN, "4111-1111-1111-1111"))
    assert "payment_intent" not in text


def test_card_number_in_a_body_that_is_not_json_is_refused(payments: dict[str, Any]) -> None:
    order_id = awaiting_order()
    status, problem, _ = pay(order_id, raw_body='{"provider": "card", 4111111111111111')
    assert status == 422 and problem["code"] == "card_data_refused"


def test_card_token_captures_at_once_through_the_same_paid_recording(
    payments: dict[str, Any], aws: dict[str, str]
) -> None:
    order_id = awaiting_order()
    status, body, _ = pay(order_id, {"provider": "card", "card_token": "tok_visa_4242"})
    assert status == 200 and body["status"] == "PAID"
    order = store.require(order_id)
    assert order.payment["provider"] == "card" and order.payment["amount_fen"] == 9900
    assert order.payment["state"] == "paid" and order.gsi3pk.startswith("DUE#PAID#")
    again = pay(order_id, {"provider": "card", "card_token": "tok_visa_4242"})
    assert again[0] == 200 and again[1]["status"] == "PAID"
    assert [getattr(e, "to_status", None) for e in store.require(order_id).events].count("PAID") == 1
    assert SandboxHttpClient.calls.count(("card.charge", order_id)) == 1


def test_declined_card_leaves_the_order_payable_with_a_clear_error(payments: dict[str, Any]) -> None:
    order_id = awaiting_order()
    status, body, _ = pay(order_id, {"provider": "card", "card_token": "tok_decline_1"})
    assert status == 200 and body["status"] == "AWAITING_PAYMENT"
    order = store.require(order_id)
    assert "declined" in (order.last_payment_error or "")
    status, body, _ = pay(order_id, {"provider": "card", "card_token": "tok_visa_4242"})
    assert body["status"] == "PAID"
    assert "last_payment_error" not in store.require(order_id)


# ------------------------------------------------------------------ refunds


def paid_order(provider: str) -> dict[str, Any]:
    order_id = awaiting_order()
    if provider == "card":
        pay(order_id, {"provider": "card", "card_token": "tok_visa_4242"})
    else:
        from shared.core.clock import now_iso
        from shared.payments import service
        from shared.payments.models import Capture, Provider

        pay(order_id, {"provider": provider})
        service.record_capture(
            Capture(
                Provider(provider), order_id, f"tx-{provider}-1", 9900, "CNY", now_iso(), f"{provider}:ev1"
            )
        )
    order = store.require(order_id)
    assert order.status == "PAID"
    return order


@pytest.mark.parametrize("provider", ["wechatpay", "alipay", "card"])
def test_same_refund_key_twice_is_one_provider_call_and_one_refund(
    payments: dict[str, Any], provider: str
) -> None:
    order = paid_order(provider)
    first = refunds.refund(order, 3000, refund_key="rma-1", reason="damaged", actor="ops:1")
    second = refunds.refund(order, 3000, refund_key="rma-1", reason="damaged", actor="ops:1")
    assert first.payment == second.payment
    record = second.payment["refunds"]["rma-1"]
    assert record["state"] == "succeeded" and record["out_refund_no"] == f"{order.order_id}-rma-1"
    assert second.payment["refunded_fen"] == 3000 and second.payment["state"] == "partially_refunded"
    assert sum(1 for api, ref in SandboxHttpClient.calls if api.endswith("refund")) == 1
    assert [e.type for e in second.events].count("refunded") == 1


def test_refunds_never_exceed_what_was_captured(payments: dict[str, Any]) -> None:
    order = paid_order("alipay")
    refunds.refund(order, 6000, refund_key="a", reason="part", actor="ops:1")
    with pytest.raises(Conflict) as refused:
        refunds.refund(order, 4000, refund_key="b", reason="too much", actor="ops:1")
    assert refused.value.status == 409 and refused.value.code == "refund_exceeds_capture"
    assert refused.value.extra["refundable_fen"] == 3900
    done = refunds.refund(order, 3900, refund_key="c", reason="rest", actor="ops:1")
    assert done.payment["refunded_fen"] == 9900 and done.payment["state"] == "refunded"
    assert "b" not in done.payment["refunds"]


def test_reject_and_refund_moves_to_rejected_and_refunds_in_full_once(payments: dict[str, Any]) -> None:
    order = paid_order("wechatpay")
    result = refunds.reject_and_refund(order, reason="review_failed", actor="reviewer:1")
    again = refunds.reject_and_refund(order, reason="review_failed", actor="reviewer:1")
    assert result.status == again.status == "REJECTED"
    assert again.payment["refunds"]["reject"]["amount_fen"] == 9900
    assert again.payment["state"] == "refunded" and not again.has("GSI3PK")
    assert sum(1 for api, _ in SandboxHttpClient.calls if api == "wechatpay.refund") == 1


def test_fail_and_refund_refunds_what_remains(payments: dict[str, Any]) -> None:
    order = paid_order("alipay")
    refunds.refund(order, 1000, refund_key="goodwill", reason="late", actor="ops:1")
    result = refunds.fail_and_refund(order, reason="fulfilment_stuck", actor="system:sweeper")
    assert result.status == "FAILED"
    assert result.payment["refunds"]["fail"]["amount_fen"] == 8900
    assert result.payment["refunded_fen"] == 9900


def test_cancel_and_refund_cancels_a_paid_order_and_refunds_it(payments: dict[str, Any]) -> None:
    order = paid_order("card")
    result = refunds.cancel_and_refund(order, reason="shopper_cancelled_after_payment", actor="shopper:x")
    assert result.status == "CANCELLED" and result.payment["refunds"]["cancel"]["state"] == "succeeded"
