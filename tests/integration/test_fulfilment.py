"""Digital delivery: idempotent per order and item, partial deliveries refunded in proportion, give-up."""

from __future__ import annotations

from typing import Any

import pytest

from shared.fulfilment.delivery import DeliveryRetryable
from shared.orders import store
from shared.sandbox import digital
from tests.integration.test_catalog_and_intake import AD_SLOT
from tests.integration.test_fulfilment_helpers import (  # noqa: F401
    deliver_order,
    fresh_sandbox_fixture,
    fulfilling_order,
    logistics_fixture,
)


@pytest.fixture(autouse=True)
def _sandbox(fresh_sandbox: None) -> None:
    return None


def _calls() -> dict[str, int]:
    return digital.provider().calls


def test_digital_order_is_delivered_and_completed_without_its_paid_timer(aws: dict[str, str]) -> None:
    order = fulfilling_order(quantity=2)
    assert order.has("GSI3PK")

    result = deliver_order(order.order_id, status="FULFILLING", next="deliver")

    done = store.require(order.order_id, consistent=True)
    assert result == {"order_id": order.order_id, "status": "COMPLETED", "version": done.version}
    assert [getattr(e, "to_status", None) for e in done.events][-2:] == ["DELIVERED", "COMPLETED"]
    assert done.delivery["items"][AD_SLOT["sku"]]["delivered_units"] == 2
    assert not done.has("GSI3PK") and not done.has("GSI3SK")


def test_retried_deliver_never_delivers_twice(aws: dict[str, str]) -> None:
    order = fulfilling_order()
    first = deliver_order(order.order_id)
    second = deliver_order(order.order_id)
    assert first == second
    assert _calls() == {f"{order.order_id}:{AD_SLOT['sku']}": 1}
    assert len(store.require(order.order_id).events) == len(order.events) + 2


def test_flaky_provider_raises_retryable_then_delivers_once(aws: dict[str, str]) -> None:
    order = fulfilling_order(target="https://shop.example.com/store/42#flaky")
    for _ in range(2):  # the sandbox fails the first two attempts per key
        with pytest.raises(DeliveryRetryable):
            deliver_order(order.order_id)
        assert store.require(order.order_id).status == "FULFILLING"
    assert deliver_order(order.order_id)["status"] == "COMPLETED"
    assert sum(_calls().values()) == 1


def test_lost_reply_after_provider_success_is_redelivered_from_the_key_not_twice(
    aws: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # given the transition after a successful provider call fails once (a crash between the two)
    order = fulfilling_order()
    from shared.fulfilment import delivery

    real = delivery._finish
    boom = {"left": 1}

    def crash_once(*args: Any, **kwargs: Any) -> Any:
        if boom["left"]:
            boom["left"] -= 1
            raise RuntimeError("lambda died")
        return real(*args, **kwargs)

    monkeypatch.setattr(delivery, "_finish", crash_once)
    with pytest.raises(RuntimeError):
        deliver_order(order.order_id)
    # when the step runs again
    assert deliver_order(order.order_id)["status"] == "COMPLETED"
    # then the provider delivered once; the second call was answered from the idempotency key
    key = f"{order.order_id}:{AD_SLOT['sku']}"
    assert _calls()[key] == 1 and digital.provider().attempts[key] == 2


def test_partial_delivery_refunds_the_undelivered_part_in_proportion(
    aws: dict[str, str], logistics: dict[str, str]
) -> None:
    # given 5 units at 99.00 of which the provider delivers 2
    order = fulfilling_order(quantity=5, target="https://shop.example.com/store/42#partial")
    # when delivered
    assert deliver_order(order.order_id)["status"] == "COMPLETED"
    # then 3 of 5 units are refunded: 3 * 9900 fen, recorded on the order and with the payment
    done = store.require(order.order_id, consistent=True)
    item = done.delivery["items"][AD_SLOT["sku"]]
    assert (item["delivered_units"], item["remaining_units"], item["refund_fen"]) == (2, 3, 29700)
    assert done.delivery["refunded_fen"] == 29700
    assert done.fulfilment["state"] == "partial"
    assert done.payment["refunds"][f"partial:{AD_SLOT['sku']}"]["amount_fen"] == 29700
    assert done.payment["refunded_fen"] == 29700


def test_partial_delivery_replayed_refunds_once(aws: dict[str, str], logistics: dict[str, str]) -> None:
    order = fulfilling_order(quantity=4, target="t#partial")
    deliver_order(order.order_id)
    deliver_order(order.order_id)
    done = store.require(order.order_id, consistent=True)
    assert list(done.payment["refunds"]) == [f"partial:{AD_SLOT['sku']}"]
    assert done.payment["refunded_fen"] == 2 * 9900


def test_give_up_fails_the_order_and_refunds_everything(
    aws: dict[str, str], logistics: dict[str, str]
) -> None:
    # given a provider that stays down, so the workflow's retries run out
    order = fulfilling_order(quantity=3, target="t#down")
    with pytest.raises(DeliveryRetryable):
        deliver_order(order.order_id)
    # when the workflow's Catch calls give_up
    result = deliver_order(
        order.order_id,
        action="give_up",
        error={"Error": "DeliveryRetryable", "Cause": "sandbox provider unavailable"},
    )
    # then the order is FAILED and the whole payment is refunded
    done = store.require(order.order_id, consistent=True)
    assert result["status"] == done.status == "FAILED"
    assert done.status_reason == "delivery_failed:DeliveryRetryable"
    assert done.payment["refunded_fen"] == done.total_fen == 3 * 9900
    # and a replayed give-up changes nothing
    assert deliver_order(order.order_id, action="give_up", error={})["version"] == done.version


def test_replay_of_a_finished_order_returns_its_state_and_changes_nothing(aws: dict[str, str]) -> None:
    order = fulfilling_order()
    finished = deliver_order(order.order_id)
    before = store.require(order.order_id, consistent=True)
    assert deliver_order(order.order_id, action="give_up", error={"Error": "X"}) == finished
    assert store.require(order.order_id, consistent=True) == before
