"""GET /orders/{id}/tracking: the owner, the shop's merchant and ops see the trace; everyone else gets 404."""

from __future__ import annotations

import pytest

from tests.integration.test_fulfilment_helpers import (  # noqa: F401
    deliver_order,
    fresh_sandbox_fixture,
    fulfilling_order,
    get,
    logistics_fixture,
)
from tests.integration.test_logistics import STEPS, k100_push, shipped
from tests.support import MERCHANT, OPS, OTHER_MERCHANT, OTHER_SHOPPER, REVIEWER, SHOPPER, User


@pytest.mark.parametrize("user", [SHOPPER, MERCHANT, OPS], ids=["owner", "merchant", "ops"])
def test_owner_merchant_and_ops_see_the_full_trace_newest_first(
    logistics: dict[str, str], user: User
) -> None:
    order = shipped()
    k100_push(order, "SIGNED", history=STEPS)
    status, body = get(f"/orders/{order.order_id}/tracking", user)
    assert status == 200, body
    assert (body["carrier"], body["tracking_number"], body["state"]) == (
        "yuantong",
        order.shipment["tracking_number"],
        "SIGNED",
    )
    assert [t["state"] for t in body["traces"]] == ["SIGNED", "OUT_FOR_DELIVERY", "IN_TRANSIT", "ACCEPTED"]
    assert body["traces"][0]["raw_status"] == "签收" and body["traces"][0]["context"] == "SIGNED 站点"


@pytest.mark.parametrize(
    "user", [OTHER_SHOPPER, OTHER_MERCHANT, REVIEWER], ids=["shopper", "merchant", "reviewer"]
)
def test_anyone_else_gets_404(logistics: dict[str, str], user: User) -> None:
    order = shipped()
    status, body = get(f"/orders/{order.order_id}/tracking", user)
    assert status == 404 and body["code"] == "order_not_found"


def test_shipped_order_without_pushes_yet_shows_an_empty_trace(logistics: dict[str, str]) -> None:
    order = shipped()
    status, body = get(f"/orders/{order.order_id}/tracking", SHOPPER)
    assert status == 200 and body["traces"] == [] and body["state"] == "AWAITING_PICKUP"


def test_digital_order_has_no_shipment(logistics: dict[str, str], fresh_sandbox: None) -> None:
    order = fulfilling_order()
    deliver_order(order.order_id)
    status, body = get(f"/orders/{order.order_id}/tracking", SHOPPER)
    assert status == 404 and body["code"] == "no_shipment"


def test_physical_order_not_shipped_yet_has_no_shipment(logistics: dict[str, str]) -> None:
    from tests.integration.test_fulfilment_helpers import physical_order

    order = physical_order()
    status, body = get(f"/orders/{order.order_id}/tracking", SHOPPER)
    assert status == 404 and body["code"] == "no_shipment"
