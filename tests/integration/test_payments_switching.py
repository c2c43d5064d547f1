"""Switching payment method: a failed, declined, unavailable or abandoned intent never locks the order.

Real pay and notify handlers against moto, sandbox providers (which verify our signatures and sign their
answers), callbacks signed with the sandbox provider keys.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from functions.api_orders.handler import handler as orders_handler
from functions.pay.handler import handler as pay_handler
from shared.core import ddb
from shared.core.errors import DomainError
from shared.orders import store
from shared.orders.aggregate import Order
from shared.payments import providers, service
from shared.payments.models import PayRequest, Provider
from shared.sandbox.payments import SandboxHttpClient
from tests.integration.test_payments_helpers import (
    alipay_form,
    awaiting_order,
    install_payments,
    post_alipay,
    post_wechat,
    wechat_notification,
    wechat_refund_notification,
)
from tests.integration.test_payments_notify import assert_alipay, assert_wechat_ok, inbox
from tests.support import SHOPPER, call

AMOUNT = 9900
WECHAT_TX = "4200000000202401010000000001"
ALIPAY_TX = "2024010122001400000001"


@pytest.fixture
def payments(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, dict[str, Any]]]:
    yield from install_payments(monkeypatch)


def pay(order_id: str, body: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
    return call(pay_handler, "POST", f"/orders/{order_id}/pay", user=SHOPPER, body=body)


def calls(api: str) -> list[str]:
    return [ref for name, ref in SandboxHttpClient.calls if name == api]


def succeeded_refunds_fen(capture: dict[str, Any]) -> int:
    return sum(int(r["amount_fen"]) for r in capture["refunds"].values() if r["state"] == "succeeded")


def kept_fen(order: Order) -> int:
    """Money conservation: everything captured minus everything refunded, over all of the order's intents."""
    captures = [order.payment, *(order.duplicate_captures or {}).values()]
    return sum(int(c["amount_fen"]) - succeeded_refunds_fen(c) for c in captures)


# ------------------------------------------------------------------ declined / unavailable card


def test_declined_card_then_wechatpay_pays_the_order(payments: dict[str, Any]) -> None:
    order_id = awaiting_order()
    status, body, _ = pay(order_id, {"provider": "card", "card_token": "tok_decline_1"})
    assert status == 200 and body["status"] == "AWAITING_PAYMENT" and body["attempt"] == 1
    assert store.require(order_id).payment_intent["state"] == "failed"

    status, body, _ = pay(order_id, {"provider": "wechatpay"})
    assert status == 200 and body["provider"] == "wechatpay"
    assert body["out_trade_no"] == f"{order_id}-2" and body["params"]["code_url"].startswith("weixin://")
    assert calls("wechatpay.prepay") == [f"{order_id}-2"]
    order = store.require(order_id)
    [card] = order.payment_attempts
    assert card["provider"] == "card" and card["outcome"] == "failed" and "closed" not in card
    assert not order.has("last_payment_error")  # the card's message no longer describes the current intent

    assert_wechat_ok(post_wechat(*wechat_notification(f"{order_id}-2", AMOUNT)))
    order = store.require(order_id)
    assert order.status == "PAID" and order.payment["out_trade_no"] == f"{order_id}-2"
    assert kept_fen(order) == order.total_fen


def test_card_without_a_card_provider_writes_nothing_and_alipay_pays(
    payments: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    order_id = awaiting_order()
    monkeypatch.delenv("ORDER24_SANDBOX")  # as in AWS today: no card provider configured
    status, body, _ = pay(order_id, {"provider": "card", "card_token": "tok_visa_4242"})
    assert status == 503 and body["code"] == "provider_not_configured"
    assert "payment_intent" not in store.require(order_id)

    monkeypatch.setenv("ORDER24_SANDBOX", "1")
    status, body, _ = pay(order_id, {"provider": "alipay"})
    assert status == 200 and body["provider"] == "alipay" and body["out_trade_no"] == order_id
    assert_alipay(post_alipay(alipay_form(order_id, AMOUNT)), "success")
    assert store.require(order_id).status == "PAID"


def test_an_order_already_stuck_on_a_card_intent_can_be_paid_with_alipay(payments: dict[str, Any]) -> None:
    """Orders locked by the old rule (a card intent written, then 503) are freed without a migration."""
    order_id = awaiting_order()
    legacy = {"provider": "card", "out_trade_no": order_id, "amount_fen": AMOUNT, "currency": "CNY",
              "created_at": "2026-12-07T00:00:00Z", "params": {}}
    ddb.dynamodb().update_item(
        TableName=ddb.table(),
        Key=store.order_key(order_id),
        UpdateExpression="SET payment_intent = :intent",
        ExpressionAttributeValues={":intent": ddb.to_attr(legacy)},
    )
    status, body, _ = pay(order_id, {"provider": "alipay"})
    assert status == 200 and body["out_trade_no"] == f"{order_id}-2"
    [card] = store.require(order_id).payment_attempts
    assert card["provider"] == "card" and card["outcome"] == "abandoned" and "closed" not in card
    assert_alipay(post_alipay(alipay_form(f"{order_id}-2", AMOUNT)), "success")
    assert store.require(order_id).status == "PAID"


# ------------------------------------------------------------------ abandoned intents, late captures


def test_abandoned_wechatpay_then_alipay_pays_and_the_late_wechatpay_capture_is_refunded_once(
    payments: dict[str, Any],
) -> None:
    order_id = awaiting_order()
    assert pay(order_id, {"provider": "wechatpay"})[0] == 200  # the shopper closes the WeChat QR...
    status, body, _ = pay(order_id, {"provider": "alipay"})  # ...and chooses Alipay
    assert status == 200 and body["out_trade_no"] == f"{order_id}-2" and body["attempt"] == 2
    assert calls("wechatpay.close") == [order_id]
    assert store.require(order_id).payment_attempts[0]["closed"] == "closed"

    assert_alipay(post_alipay(alipay_form(f"{order_id}-2", AMOUNT, trade_no=ALIPAY_TX)), "success")
    assert store.require(order_id).status == "PAID"

    late = wechat_notification(order_id, AMOUNT, transaction_id=WECHAT_TX, event_id="EV-LATE-WX")
    for _ in range(3):  # WeChat retries; each is acknowledged
        assert_wechat_ok(post_wechat(*late))
    order = store.require(order_id)
    assert order.status == "PAID" and order.payment["provider"] == "alipay"
    duplicate = order.duplicate_captures["wechatpay-1"]
    assert duplicate["transaction_id"] == WECHAT_TX and duplicate["duplicate_of"] == ALIPAY_TX
    assert duplicate["state"] == "refunded" and duplicate["refunded_fen"] == AMOUNT
    out_refund_no = f"{order_id}-duplicate-wechatpay-1"
    assert calls("wechatpay.refund") == [out_refund_no]  # one refund, deterministic number
    assert [e.type for e in order.events].count("duplicate_capture") == 1
    assert kept_fen(order) == order.total_fen == AMOUNT

    # WeChat's REFUND.SUCCESS for it is matched (not sent to ops) and changes nothing more.
    notice = wechat_refund_notification(order_id, out_refund_no, AMOUNT, AMOUNT, event_id="EV-REFUND")
    assert_wechat_ok(post_wechat(*notice))
    assert inbox("unmatched_payment") == [] and inbox("refund_issue") == []
    assert kept_fen(store.require(order_id)) == AMOUNT


def test_a_superseded_intent_paid_first_pays_the_order_and_the_newer_one_is_closed(
    payments: dict[str, Any],
) -> None:
    order_id = awaiting_order()
    pay(order_id, {"provider": "wechatpay"})
    pay(order_id, {"provider": "alipay"})
    # The shopper had already scanned the WeChat QR: that capture arrives first and pays the order.
    assert_wechat_ok(post_wechat(*wechat_notification(order_id, AMOUNT, transaction_id=WECHAT_TX)))
    order = store.require(order_id)
    assert order.status == "PAID" and order.payment["out_trade_no"] == order_id
    assert calls("alipay.close") == [f"{order_id}-2"]
    assert order.payment_intent["closed"] == "closed"
    # Alipay then reports the close: a superseded/closed trade never puts an error on a paid order.
    closed = alipay_form(f"{order_id}-2", AMOUNT, status="TRADE_CLOSED", trade_no=ALIPAY_TX)
    assert_alipay(post_alipay(closed), "success")
    assert "last_payment_error" not in store.require(order_id)
    # Had it been paid anyway, that second capture is refunded like any duplicate.
    form = alipay_form(f"{order_id}-2", AMOUNT, trade_no=ALIPAY_TX)
    for _ in range(3):
        assert_alipay(post_alipay(form), "success")
    order = store.require(order_id)
    assert calls("alipay.refund") == [f"{order_id}-duplicate-alipay-2"]
    assert kept_fen(order) == AMOUNT


def test_two_old_intents_captured_after_cancel_are_both_refunded_and_nothing_is_kept(
    payments: dict[str, Any],
) -> None:
    order_id = awaiting_order()
    pay(order_id, {"provider": "wechatpay"})
    pay(order_id, {"provider": "alipay"})
    call(orders_handler, "POST", f"/orders/{order_id}/cancel", user=SHOPPER)
    for _ in range(2):
        assert_wechat_ok(post_wechat(*wechat_notification(order_id, AMOUNT, event_id="EV-LATE")))
        assert_alipay(post_alipay(alipay_form(f"{order_id}-2", AMOUNT, trade_no=ALIPAY_TX)), "success")
    order = store.require(order_id)
    assert order.status == "CANCELLED" and order.payment["late"] is True
    assert order.duplicate_captures["alipay-2"]["state"] == "refunded"
    assert calls("wechatpay.refund") == [f"{order_id}-paid-after-cancel"]
    assert calls("alipay.refund") == [f"{order_id}-duplicate-alipay-2"]
    assert kept_fen(order) == 0


def test_a_failure_of_a_superseded_trade_leaves_the_current_intent_alone(payments: dict[str, Any]) -> None:
    order_id = awaiting_order()
    pay(order_id, {"provider": "alipay"})
    pay(order_id, {"provider": "wechatpay"})
    assert_alipay(post_alipay(alipay_form(order_id, AMOUNT, status="TRADE_CLOSED")), "success")
    order = store.require(order_id)
    assert order.payment_intent["state"] == "open" and not order.has("last_payment_error")
    assert pay(order_id, {"provider": "wechatpay"})[1]["out_trade_no"] == f"{order_id}-2"


def test_wechatpay_again_after_its_payerror_opens_a_new_attempt(payments: dict[str, Any]) -> None:
    order_id = awaiting_order()
    pay(order_id, {"provider": "wechatpay"})
    assert_wechat_ok(post_wechat(*wechat_notification(order_id, AMOUNT, state="PAYERROR")))
    assert "could not complete" in store.require(order_id).last_payment_error
    status, body, _ = pay(order_id, {"provider": "wechatpay"})
    assert status == 200 and body["out_trade_no"] == f"{order_id}-2"
    assert calls("wechatpay.close") == []  # a failed trade is not open: nothing to close
    assert_wechat_ok(post_wechat(*wechat_notification(f"{order_id}-2", AMOUNT)))
    assert store.require(order_id).status == "PAID"


def test_a_switch_that_loses_to_a_capture_answers_409_and_closes_the_trade_it_opened(
    payments: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    order_id = awaiting_order()
    pay(order_id, {"provider": "wechatpay"})
    real_open = providers.open_payment

    def open_while_wechat_is_paid(*args: Any, **kwargs: Any) -> dict[str, Any]:
        params = real_open(*args, **kwargs)
        assert_wechat_ok(post_wechat(*wechat_notification(order_id, AMOUNT)))  # paid meanwhile
        return params

    monkeypatch.setattr(providers, "open_payment", open_while_wechat_is_paid)
    status, body, _ = pay(order_id, {"provider": "alipay"})
    assert status == 409 and body["code"] == "order_not_payable" and body["current_status"] == "PAID"
    order = store.require(order_id)
    assert order.payment_intent["out_trade_no"] == order_id and not order.has("payment_attempts")
    assert calls("alipay.precreate") == calls("alipay.close") == [f"{order_id}-2"]


# ------------------------------------------------------------------ idempotency


def test_the_same_pay_request_retried_returns_the_same_intent(payments: dict[str, Any]) -> None:
    order_id = awaiting_order()
    pay(order_id, {"provider": "wechatpay"})
    first = pay(order_id, {"provider": "alipay"})
    again = [pay(order_id, {"provider": "alipay"}) for _ in range(3)]
    assert all(reply[:2] == first[:2] for reply in again) and first[1]["attempt"] == 2
    assert calls("alipay.precreate") == [f"{order_id}-2"] and calls("wechatpay.close") == [order_id]
    order = store.require(order_id)
    assert len(order.payment_attempts) == 1
    assert [e.type for e in order.events].count("payment_intent_created") == 2


def test_a_declined_card_retried_with_the_same_token_is_not_charged_again(payments: dict[str, Any]) -> None:
    order_id = awaiting_order()
    first = pay(order_id, {"provider": "card", "card_token": "tok_decline_1"})
    second = pay(order_id, {"provider": "card", "card_token": "tok_decline_1"})
    assert first[:2] == second[:2] and second[1]["status"] == "AWAITING_PAYMENT"
    assert calls("card.charge") == [order_id]
    status, body, _ = pay(order_id, {"provider": "card", "card_token": "tok_visa_4242"})
    assert status == 200 and body["status"] == "PAID" and body["out_trade_no"] == f"{order_id}-2"
    assert calls("card.charge") == [order_id, f"{order_id}-2"]


def test_paying_a_paid_order_with_another_provider_is_409(payments: dict[str, Any]) -> None:
    order_id = awaiting_order()
    pay(order_id, {"provider": "card", "card_token": "tok_visa_4242"})
    status, body, _ = pay(order_id, {"provider": "alipay"})
    assert status == 409 and body["code"] == "order_not_payable" and body["current_status"] == "PAID"


# ------------------------------------------------------------------ races


@pytest.mark.parametrize("after_an_abandoned_intent", [False, True])
def test_two_racing_pay_requests_with_different_providers_leave_exactly_one_current_intent(
    payments: dict[str, Any], monkeypatch: pytest.MonkeyPatch, after_an_abandoned_intent: bool
) -> None:
    """Both requests read the same order version and open their trade before either writes (a barrier
    holds them there); the conditional write lets one win. The service is called directly from two threads:
    the Powertools app keeps the current event on a module-level router, and one Lambda instance serves one
    request at a time, so two handler calls cannot share a process the way two Lambdas share the table."""
    order_id = awaiting_order()
    if after_an_abandoned_intent:
        pay(order_id, {"provider": "card", "card_token": "tok_decline_1"})
    real_open = providers.open_payment
    barrier = threading.Barrier(2, timeout=20)

    def open_together(*args: Any, **kwargs: Any) -> dict[str, Any]:
        params = real_open(*args, **kwargs)
        barrier.wait()  # both have read the order and opened a trade; now both try to write
        return params

    monkeypatch.setattr(providers, "open_payment", open_together)
    results: dict[str, Any] = {}

    def attempt(provider: str) -> None:
        try:
            results[provider] = service.create_intent(order_id, SHOPPER.sub, PayRequest(provider=Provider(provider)))
        except DomainError as error:
            results[provider] = error

    threads = [threading.Thread(target=attempt, args=(p,)) for p in ("wechatpay", "alipay")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    won = [p for p, r in results.items() if not isinstance(r, DomainError)]
    lost = [r for r in results.values() if isinstance(r, DomainError)]
    assert len(won) == 1 and len(lost) == 1, results
    assert lost[0].status == 409 and lost[0].code == "payment_intent_changed"
    order = store.require(order_id)
    trade_no = f"{order_id}-2" if after_an_abandoned_intent else order_id
    assert order.payment_intent["provider"] == won[0] and order.payment_intent["out_trade_no"] == trade_no
    assert [e.type for e in order.events].count("payment_intent_created") == 1 + after_an_abandoned_intent
    assert len(order.payment_attempts or []) == int(after_an_abandoned_intent)
    loser = "alipay" if won[0] == "wechatpay" else "wechatpay"
    assert calls(f"{loser}.close") == [trade_no]  # the trade nobody was shown is closed


# ------------------------------------------------------------------ money is conserved, whatever the order


PAYS = st.sampled_from(["wechatpay", "alipay", "wechatpay", "alipay", "tok_decline_1", "tok_visa_4242"])


@st.composite
def steps_strategy(draw: st.DrawFn) -> list[tuple[str, Any]]:
    """2-4 pay requests and 2-3 captures of shown trades, in any order but starting with a pay request."""
    pays: list[tuple[str, Any]] = [("pay", p) for p in draw(st.lists(PAYS, min_size=2, max_size=4))]
    captures: list[tuple[str, Any]] = [
        ("capture", i) for i in draw(st.lists(st.integers(0, 3), min_size=2, max_size=3))
    ]
    rest = draw(st.permutations(pays[1:] + captures))
    return [pays[0], *rest]


STEPS = steps_strategy()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=STEPS)
def test_any_sequence_of_switches_and_captures_keeps_exactly_the_goods_value(
    payments: dict[str, Any], steps: list[tuple[str, Any]]
) -> None:
    """Pay with anything, switch, let any opened trade be captured (each capture delivered twice): the order
    is paid once, every other capture is refunded exactly once, and captured - refunded = the total."""
    SandboxHttpClient.calls.clear()
    order_id = awaiting_order(key=f"prop-{secrets.token_hex(8)}")
    trades: list[tuple[str, str]] = []  # (provider, out_trade_no) of every wallet trade shown to the shopper
    for kind, arg in steps:
        if kind == "pay":
            body = {"provider": "card", "card_token": arg} if arg.startswith("tok_") else {"provider": arg}
            status, reply, _ = pay(order_id, body)
            assert status in (200, 409), reply
            if status == 200 and reply["provider"] != "card":
                trades.append((reply["provider"], reply["out_trade_no"]))
        elif trades:
            provider, trade_no = trades[arg % len(trades)]
            tx = f"{trade_no}-{provider}"[-20:].replace("-", "0")
            for _ in range(2):
                if provider == "wechatpay":
                    tx_id = "42" + tx.rjust(26, "0")
                    assert_wechat_ok(post_wechat(*wechat_notification(trade_no, AMOUNT, transaction_id=tx_id)))
                else:
                    assert_alipay(post_alipay(alipay_form(trade_no, AMOUNT, trade_no="2024" + tx)), "success")
    order = store.require(order_id)
    event(f"{len(order.duplicate_captures or {})} duplicate capture(s)")
    if not order.has("payment"):
        assert order.status == "AWAITING_PAYMENT" and not order.has("duplicate_captures")
        return
    assert order.status == "PAID" and kept_fen(order) == order.total_fen
    refunds = [ref for name, ref in SandboxHttpClient.calls if name.endswith(".refund")]
    assert len(refunds) == len(set(refunds)) == len(order.duplicate_captures or {})
