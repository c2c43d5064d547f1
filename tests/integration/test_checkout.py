"""Reservation, cancellation and expiry against moto: stock is never oversold nor leaked."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
import time_machine

from functions.api_orders.handler import handler as orders_handler
from functions.reserve.handler import handler as reserve_handler
from functions.sweeper.handler import handler as sweeper_handler
from shared.catalog import store as catalog
from shared.core.clock import now
from shared.orders import lifecycle, store
from tests.integration.test_catalog_and_intake import AD_SLOT, TEA, create, order_body, place
from tests.support import OTHER_SHOPPER, SHOPPER, call, context


def reserve(order_id: str) -> dict[str, Any]:
    result: dict[str, Any] = reserve_handler({"order_id": order_id, "version": 1}, context("reserve"))
    return result


def test_reservation_moves_order_to_awaiting_payment_and_takes_stock(aws: dict[str, str]) -> None:
    create(AD_SLOT)
    _, accepted, _ = place(order_body(items=[{"sku": AD_SLOT["sku"], "quantity": 3}]))
    result = reserve(accepted["order_id"])
    assert result["status"] == "AWAITING_PAYMENT" and result["version"] == 2
    assert catalog.available(AD_SLOT["sku"]) == 17
    order = store.require(accepted["order_id"])
    assert order.expires_at > order.created_at
    assert [getattr(e, "to_status", None) for e in order.events] == ["PLACED", "AWAITING_PAYMENT"]


def test_replayed_reservation_changes_nothing(aws: dict[str, str]) -> None:
    create(AD_SLOT)
    _, accepted, _ = place(order_body(items=[{"sku": AD_SLOT["sku"], "quantity": 2}]))
    first = reserve(accepted["order_id"])
    second = reserve(accepted["order_id"])
    assert first == second
    assert catalog.available(AD_SLOT["sku"]) == 18
    assert len(store.require(accepted["order_id"]).events) == 2


def test_out_of_stock_order_is_rejected_with_a_reason(aws: dict[str, str]) -> None:
    create({**AD_SLOT, "stock": 1})
    _, accepted, _ = place(order_body(items=[{"sku": AD_SLOT["sku"], "quantity": 2}]))
    assert reserve(accepted["order_id"])["status"] == "REJECTED"
    order = store.require(accepted["order_id"])
    assert order.status_reason == f"out_of_stock:{AD_SLOT['sku']}"
    assert catalog.available(AD_SLOT["sku"]) == 1


def test_quantity_larger_than_one_bucket_is_split_over_buckets(aws: dict[str, str]) -> None:
    create({**AD_SLOT, "stock": 8})  # 4 buckets of 2
    _, accepted, _ = place(order_body(items=[{"sku": AD_SLOT["sku"], "quantity": 7}]))
    assert reserve(accepted["order_id"])["status"] == "AWAITING_PAYMENT"
    assert catalog.available(AD_SLOT["sku"]) == 1
    assert sum(units for _, units in store.require(accepted["order_id"]).reservations[AD_SLOT["sku"]]) == 7


def test_hundred_parallel_orders_never_oversell_twenty_units(aws: dict[str, str]) -> None:
    create({**AD_SLOT, "stock": 20})
    order_ids = [place(order_body(), key=f"parallel-{n:04d}")[1]["order_id"] for n in range(100)]
    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(reserve, order_ids))
    statuses = [result["status"] for result in results]
    assert statuses.count("AWAITING_PAYMENT") == 20
    assert statuses.count("REJECTED") == 80
    buckets = catalog.buckets_of(AD_SLOT["sku"])
    assert all(units >= 0 for _, units in buckets)
    assert sum(units for _, units in buckets) == 0


def test_shopper_cancels_before_payment_and_stock_comes_back(aws: dict[str, str]) -> None:
    create(AD_SLOT)
    _, accepted, _ = place(order_body(items=[{"sku": AD_SLOT["sku"], "quantity": 4}]))
    reserve(accepted["order_id"])
    status, body, _ = call(orders_handler, "POST", f"/orders/{accepted['order_id']}/cancel", user=SHOPPER)
    assert status == 200 and body["status"] == "CANCELLED"
    assert catalog.available(AD_SLOT["sku"]) == 20
    status, body, _ = call(orders_handler, "POST", f"/orders/{accepted['order_id']}/cancel", user=SHOPPER)
    assert status == 409 and body["code"] == "not_cancellable" and body["current_status"] == "CANCELLED"
    assert catalog.available(AD_SLOT["sku"]) == 20


def test_other_shoppers_cannot_see_or_cancel_an_order(aws: dict[str, str]) -> None:
    create(AD_SLOT)
    _, accepted, _ = place(order_body())
    for method, path in (("GET", f"/orders/{accepted['order_id']}"), ("GET", f"/orders/{accepted['order_id']}/events"),
                         ("POST", f"/orders/{accepted['order_id']}/cancel")):
        status, body, _ = call(orders_handler, method, path, user=OTHER_SHOPPER)
        assert status == 404 and body["code"] == "order_not_found"
    assert store.require(accepted["order_id"]).status == "PLACED"


def test_owner_reads_order_timeline_and_list(aws: dict[str, str]) -> None:
    create(AD_SLOT)
    create(TEA)
    first = place(order_body())[1]["order_id"]
    second = place(order_body(), key="key-00000002")[1]["order_id"]
    reserve(first)
    status, body, _ = call(orders_handler, "GET", f"/orders/{first}", user=SHOPPER)
    assert status == 200 and body["status"] == "AWAITING_PAYMENT" and body["total_fen"] == 9900
    assert body["currency"] == "CNY" and body["items"][0]["sku"] == AD_SLOT["sku"] and body["created_at"]
    status, timeline, _ = call(orders_handler, "GET", f"/orders/{first}/events", user=SHOPPER)
    assert [(e["type"], e["from_status"], e["to_status"]) for e in timeline["events"]] == [
        ("placed", None, "PLACED"), ("status_changed", "PLACED", "AWAITING_PAYMENT")]
    assert all(e["at"] and e["actor"] for e in timeline["events"])
    status, page, _ = call(orders_handler, "GET", "/orders", user=SHOPPER)
    assert [o["order_id"] for o in page["items"]] == [second, first]
    status, page, _ = call(orders_handler, "GET", "/orders", user=OTHER_SHOPPER)
    assert page["items"] == []


def test_bad_cursor_is_a_400(aws: dict[str, str]) -> None:
    status, body, _ = call(orders_handler, "GET", "/orders", user=SHOPPER, query={"cursor": "bm9wZQ"})
    assert status == 400 and body["code"] == "invalid_cursor"


def test_unpaid_order_expires_and_releases_stock(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAYMENT_TIMEOUT_SECONDS", "60")
    create(AD_SLOT)
    _, accepted, _ = place(order_body(items=[{"sku": AD_SLOT["sku"], "quantity": 5}]))
    reserve(accepted["order_id"])
    assert sweeper_handler({}, context("sweeper")) == {"review_queue_oldest_age_s": 0,
                                                      "ticket_oldest_unanswered_age_s": 0}
    with time_machine.travel(now() + timedelta(seconds=61), tick=False):
        outcomes = sweeper_handler({}, context("sweeper"))
    assert outcomes.get("expiry_expired") == 1
    order = store.require(accepted["order_id"])
    assert order.status == "CANCELLED" and order.status_reason == "payment_timeout"
    assert catalog.available(AD_SLOT["sku"]) == 20
    assert not order.has("GSI3PK")


def test_a_redrive_that_loses_to_checkout_is_a_race_not_an_error(aws: dict[str, str]) -> None:
    """The sweeper read the order PLACED; checkout moved it before the re-drive was written."""
    create(AD_SLOT)
    order_id = place(order_body())[1]["order_id"]
    seen_by_sweeper = store.require(order_id)
    reserve(order_id)
    assert lifecycle.redrive_placed(seen_by_sweeper, now() + timedelta(minutes=5)) == "raced"
    order = store.require(order_id)
    assert order.status == "AWAITING_PAYMENT" and not order.redrives


def test_order_stuck_in_placed_is_redriven_then_failed(aws: dict[str, str]) -> None:
    create(AD_SLOT)
    _, accepted, _ = place(order_body())
    moment = now()
    outcomes = []
    for step in range(1, 12):
        with time_machine.travel(moment + timedelta(minutes=3 * step), tick=False):
            outcomes.append(sweeper_handler({}, context("sweeper")))
    flat = [key for outcome in outcomes for key in outcome]
    assert flat.count("placed_redriven") == lifecycle.MAX_REDRIVES
    assert store.require(accepted["order_id"]).status == "FAILED"


def test_merchant_sees_own_orders_and_sales_but_not_other_shops(aws: dict[str, Any]) -> None:
    from functions.api_merchant.handler import handler as merchant_handler
    from tests.support import MERCHANT, OTHER_MERCHANT

    create(AD_SLOT)
    first = place(order_body())[1]["order_id"]
    reserve(first)
    status, page, _ = call(merchant_handler, "GET", "/merchant/orders", user=MERCHANT)
    assert status == 200 and [o["order_id"] for o in page["items"]] == [first]
    status, sales, _ = call(merchant_handler, "GET", "/merchant/sales", user=MERCHANT)
    assert status == 200 and sales["orders"] == 1 and sales["orders_by_status"] == {"AWAITING_PAYMENT": 1}
    assert sales["gross_fen"] == 0  # nothing paid yet
    status, page, _ = call(merchant_handler, "GET", "/merchant/orders", user=OTHER_MERCHANT)
    assert page["items"] == []
    status, body, _ = call(merchant_handler, "GET", "/merchant/orders", user=SHOPPER)
    assert status == 403 and body["code"] == "wrong_role"
    status, body, _ = call(merchant_handler, "GET", "/merchant/sales", user=MERCHANT, query={"day": "yesterday"})
    assert status == 422
    for impossible in ("2026-02-30", "5070-31-02"):  # day-shaped but no such day: a 422, never a 500
        for path in ("/merchant/sales", "/merchant/orders"):
            status, body, _ = call(merchant_handler, "GET", path, user=MERCHANT, query={"day": impossible})
            assert status == 422 and body["code"] == "validation_failed", (path, impossible, body)


def test_merchant_reads_own_shops_order_and_ops_reads_any(aws: dict[str, Any]) -> None:
    from tests.support import MERCHANT, OPS, OTHER_MERCHANT

    create(AD_SLOT)
    order_id = place(order_body())[1]["order_id"]
    assert call(orders_handler, "GET", f"/orders/{order_id}", user=MERCHANT)[0] == 200
    assert call(orders_handler, "GET", f"/orders/{order_id}", user=OPS)[0] == 200
    assert call(orders_handler, "GET", f"/orders/{order_id}", user=OTHER_MERCHANT)[0] == 404
