"""Cancellation by stage (issue 13, item 1), through the real handlers against moto: free before payment,
cancelled and refunded in full after payment until fulfilment starts, then 409 `next: after_sales`."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any, cast

import pytest

from functions.api_orders.handler import handler as orders_handler
from functions.review_auto.handler import handler as review_auto_handler
from shared.catalog import store as catalog
from shared.core.errors import Unavailable
from shared.orders import store
from shared.orders.aggregate import Order
from shared.orders.models import OrderStatus
from shared.payments.adapters.http import TransportError
from shared.review import queue
from shared.risk import flags
from shared.risk import store as risk_store
from shared.sandbox.payments import SandboxHttpClient
from tests.integration import test_fulfilment_helpers, test_payments
from tests.integration.test_catalog_and_intake import AD_SLOT
from tests.integration.test_fulfilment_helpers import deliver_order
from tests.integration.test_payments_helpers import install_payments
from tests.integration.test_review_flow import in_review
from tests.support import REVIEWER, SHOPPER, call, context


@pytest.fixture
def payments(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, dict[str, Any]]]:
    monkeypatch.delenv("RISK_MODE", raising=False)
    flags.reset()
    risk_store.reset_memo()
    yield from install_payments(monkeypatch)
    flags.reset()


def paid_order(provider: str) -> Order:
    """A PAID order, paid through the provider's real capture path (test_payments.paid_order)."""
    return cast(Order, test_payments.paid_order(provider))


def fulfilling_order() -> Order:
    return cast(Order, test_fulfilment_helpers.fulfilling_order())


def cancel(order_id: str) -> tuple[int, Any]:
    status, body, _ = call(orders_handler, "POST", f"/orders/{order_id}/cancel", user=SHOPPER)
    return status, body


def refund_calls(order_id: str) -> list[tuple[str, str]]:
    return [(api, ref) for api, ref in SandboxHttpClient.calls if api.endswith("refund") and ref.startswith(order_id)]


def assert_refunded_in_full(order_id: str) -> None:
    order = store.require(order_id, consistent=True)
    payment = order.payment or {}
    assert order.status is OrderStatus.CANCELLED and not order.has("GSI3PK")
    assert payment["refunds"]["cancel"]["amount_fen"] == payment["amount_fen"] == order.total_fen
    assert payment["refunds"]["cancel"]["state"] == "succeeded"
    assert payment["amount_fen"] - payment["refunded_fen"] == 0 and payment["state"] == "refunded"
    assert payment["refunds"]["cancel"]["out_refund_no"] == f"{order_id}-cancel"
    assert [e.type for e in order.events].count("refund_requested") == 1
    assert [e.type for e in order.events].count("refunded") == 1


@pytest.mark.parametrize("provider", ["wechatpay", "alipay", "card"])
def test_shopper_cancels_a_paid_order_and_gets_the_whole_capture_back_once(
    payments: dict[str, Any], provider: str
) -> None:
    order_id = paid_order(provider).order_id
    stock_before = catalog.available(str(AD_SLOT["sku"]))

    status, body = cancel(order_id)
    assert status == 200, body
    assert body["status"] == "CANCELLED"
    assert body["payment"]["refunds"]["cancel"]["amount_fen"] == 9900
    assert_refunded_in_full(order_id)
    assert catalog.available(str(AD_SLOT["sku"])) == stock_before + 1  # the unit is sellable again

    again_status, again = cancel(order_id)  # the shopper's retry: the same order, no second refund
    assert again_status == 200 and again["status"] == "CANCELLED"
    assert refund_calls(order_id) == [(f"{provider}.refund", f"{order_id}-cancel")]
    assert_refunded_in_full(order_id)


def test_the_move_and_the_refund_grant_are_one_write(payments: dict[str, Any]) -> None:
    order_id = paid_order("wechatpay").order_id
    cancel(order_id)
    order = store.require(order_id, consistent=True)
    moved = next(e for e in order.events if e.type == "status_changed" and e.to_status is OrderStatus.CANCELLED)
    granted = next(e for e in order.events if e.type == "refund_requested")
    index = order.events.index(moved)
    assert order.events[index + 1] == granted  # appended by the same UpdateItem as the move


def test_a_provider_timeout_is_retried_with_the_same_refund_number_and_refunds_once(
    payments: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    order_id = paid_order("wechatpay").order_id
    real_send = SandboxHttpClient.send
    timed_out: list[str] = []

    def times_out_once_after_the_provider_acted(self: SandboxHttpClient, request: Any) -> Any:
        answer = real_send(self, request)
        if "/refund/" in request.url and not timed_out:
            timed_out.append(request.url)
            raise TransportError("read timeout")  # the provider refunded; we never heard
        return answer

    monkeypatch.setattr(SandboxHttpClient, "send", times_out_once_after_the_provider_acted)
    status, body = cancel(order_id)
    assert status == 503 and body["code"] == "payment_provider_unavailable"
    order = store.require(order_id, consistent=True)
    assert order.status is OrderStatus.CANCELLED  # cancelled, the refund granted and not yet confirmed
    assert (order.payment or {})["refunds"]["cancel"]["state"] == "requested"

    status, body = cancel(order_id)  # the retry finishes the same refund
    assert status == 200 and body["status"] == "CANCELLED"
    calls = refund_calls(order_id)
    assert len(calls) == 2 and {ref for _, ref in calls} == {f"{order_id}-cancel"}  # one refund number
    assert_refunded_in_full(order_id)


def test_a_refused_refund_lands_in_the_ops_inbox(payments: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    from shared.payments import providers

    order_id = paid_order("alipay").order_id
    monkeypatch.setattr(providers, "send_refund",
                        lambda *a, **k: providers.RefundResult("failed", "", "ACQ.SELLER_BALANCE_NOT_ENOUGH"))
    status, body = cancel(order_id)
    assert status == 200 and body["status"] == "CANCELLED"
    order = store.require(order_id, consistent=True)
    assert (order.payment or {})["refunds"]["cancel"]["state"] == "failed"
    assert "refund_failed" in [e.type for e in order.events]
    from shared.ops import inbox

    issues, _ = inbox.list_kind("refund_issue", None, viewer="ops")
    assert [entry["ref"] for entry in issues] == [f"{order_id}:cancel"]


def test_an_order_in_review_is_cancelled_refunded_and_leaves_the_reviewers_queue(payments: dict[str, Any]) -> None:
    order_id = in_review()
    assert order_id in [entry["order_id"] for entry in queue.page(None, viewer=REVIEWER.sub)[0]]

    status, body = cancel(order_id)
    assert status == 200 and body["status"] == "CANCELLED"
    assert_refunded_in_full(order_id)
    assert order_id not in [entry["order_id"] for entry in queue.page(None, viewer=REVIEWER.sub)[0]]
    assert refund_calls(order_id) == [("card.refund", f"{order_id}-cancel")]


@pytest.mark.parametrize("status_name", ["FULFILLING", "SHIPPED", "DELIVERED"])
def test_once_fulfilment_started_cancel_points_to_after_sales(payments: dict[str, Any], status_name: str) -> None:
    order = fulfilling_order()
    if status_name != "FULFILLING":
        order = store.transition(order, OrderStatus(status_name), actor="test", reason="moved on")
    status, body = cancel(order.order_id)
    assert status == 409, body
    assert body["code"] == "not_cancellable" and body["next"] == "after_sales"
    assert body["current_status"] == status_name
    assert store.require(order.order_id).status.value == status_name and not refund_calls(order.order_id)


def test_a_cancelled_order_cancelled_again_is_409_without_after_sales(payments: dict[str, Any]) -> None:
    order = fulfilling_order()
    store.transition(order, OrderStatus.FAILED, actor="test", reason="gave up")
    status, body = cancel(order.order_id)
    assert status == 409 and body["current_status"] == "FAILED" and "next" not in body


def race(order_id: str, fulfil: Any) -> tuple[tuple[int, Any], Any]:
    barrier = threading.Barrier(2)
    results: dict[str, Any] = {}

    def shopper() -> None:
        barrier.wait()
        results["cancel"] = cancel(order_id)

    def workflow() -> None:
        barrier.wait()
        results["fulfil"] = fulfil(order_id)

    threads = [threading.Thread(target=shopper), threading.Thread(target=workflow)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results["cancel"], results["fulfil"]


def review_then_deliver(order_id: str) -> dict[str, Any]:
    routed: dict[str, Any] = review_auto_handler({"order_id": order_id}, context("review_auto"))
    if routed["next"] == "deliver":
        return deliver_order(order_id)
    return routed


@pytest.mark.parametrize("round_", range(6))
def test_cancel_racing_review_and_delivery_has_exactly_one_winner_and_money_is_conserved(
    payments: dict[str, Any], round_: int
) -> None:
    from shared.sandbox import digital

    digital.reset()
    order_id = paid_order("card").order_id
    (status, body), fulfilled = race(order_id, review_then_deliver)
    order = store.require(order_id, consistent=True)
    payment = order.payment or {}
    if status == 200:  # the cancel won: refunded in full, nothing delivered, the workflow ended quietly
        assert_refunded_in_full(order_id)
        assert fulfilled.get("next") == "wait" or fulfilled.get("status") == "CANCELLED"
        assert not order.delivery
    else:  # fulfilment started first: 409 towards after-sales, nothing refunded
        assert status == 409 and body["next"] == "after_sales", body
        assert order.status in (OrderStatus.FULFILLING, OrderStatus.DELIVERED, OrderStatus.COMPLETED)
        assert payment.get("refunded_fen", 0) == 0 and not payment.get("refunds")
    assert payment["amount_fen"] - payment.get("refunded_fen", 0) in (0, order.total_fen)


def test_the_shopper_hears_of_the_cancellation_and_of_the_refund(payments: dict[str, Any]) -> None:
    from shared.notifications.logic import OrderImage, notifications

    before = paid_order("alipay")
    cancel(before.order_id)
    after = store.require(before.order_id, consistent=True)
    # the stream's records of the cancel: the move with its grant, then the provider's answer (squashed here)
    heard = notifications(OrderImage.model_validate(before.to_item()), OrderImage.model_validate(after.to_item()))
    assert [note["type"] for note in heard] == ["cancelled", "refunded"]
    assert heard[0]["reason"] == "cancelled_by_shopper" and heard[1]["status"] == "CANCELLED"


def test_fulfilment_after_a_cancel_stops_cleanly_without_delivering(payments: dict[str, Any]) -> None:
    from shared.sandbox import digital

    digital.reset()
    order_id = paid_order("card").order_id
    assert cancel(order_id)[0] == 200
    routed = review_auto_handler({"order_id": order_id}, context("review_auto"))
    assert routed["next"] == "wait"  # the workflow's Route ends it (Succeed): no retry, no DLQ
    assert deliver_order(order_id)["status"] == "CANCELLED"  # a stray Deliver changes nothing
    order = store.require(order_id, consistent=True)
    assert order.status is OrderStatus.CANCELLED and not order.delivery
    assert_refunded_in_full(order_id)


def test_a_cancel_after_review_passed_is_409_towards_after_sales(payments: dict[str, Any]) -> None:
    order_id = paid_order("card").order_id
    assert review_auto_handler({"order_id": order_id}, context("review_auto"))["next"] == "deliver"
    status, body = cancel(order_id)
    assert status == 409 and body["next"] == "after_sales" and body["current_status"] == "FULFILLING"
    assert not (store.require(order_id).payment or {}).get("refunds")


def test_a_refund_the_provider_never_answered_is_sent_again_by_the_sweeper(
    payments: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import timedelta

    from shared.core.clock import now
    from shared.orders import lifecycle
    from shared.payments import providers

    order_id = paid_order("wechatpay").order_id
    real_send = providers.send_refund

    def down(*args: Any, **kwargs: Any) -> Any:
        raise Unavailable("wechatpay did not answer", code="payment_provider_unavailable")

    monkeypatch.setattr(providers, "send_refund", down)
    assert cancel(order_id)[0] == 503  # and the shopper never retries
    order = store.require(order_id, consistent=True)
    assert order.status is OrderStatus.CANCELLED and (order.gsi3pk or "").startswith("DUE#REFUND#")

    outcomes = lifecycle.sweep(now() + timedelta(minutes=5), kinds=("REFUND",))
    assert outcomes == {"refund_retry": 1}  # still down: the timer moves on
    monkeypatch.setattr(providers, "send_refund", real_send)
    assert lifecycle.sweep(now() + timedelta(minutes=10), kinds=("REFUND",)) == {"refund_refunded": 1}
    assert_refunded_in_full(order_id)  # the timer is gone with the settle
    assert refund_calls(order_id) == [("wechatpay.refund", f"{order_id}-cancel")]
    assert lifecycle.sweep(now() + timedelta(hours=1), kinds=("REFUND",)) == {}


def test_a_grant_unsent_for_an_hour_goes_to_the_ops_inbox(
    payments: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import timedelta

    from shared.core.clock import now
    from shared.ops import inbox
    from shared.orders import lifecycle
    from shared.payments import providers

    order_id = paid_order("alipay").order_id

    def down(*args: Any, **kwargs: Any) -> Any:
        raise Unavailable("alipay did not answer", code="payment_provider_unavailable")

    monkeypatch.setattr(providers, "send_refund", down)
    cancel(order_id)
    assert lifecycle.sweep(now() + timedelta(hours=2), kinds=("REFUND",)) == {"refund_retry": 1}
    issues, _ = inbox.list_kind("refund_issue", None, viewer="ops")
    assert [entry["ref"] for entry in issues] == [f"{order_id}:cancel"]
